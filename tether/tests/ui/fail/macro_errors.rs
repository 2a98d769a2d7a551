//! Every problem in an interface is reported at once, each at its own place.
// expect: interface methods take `&self`
// expect: a #[getter] or #[dispose] member takes no parameters besides `&self`
// expect: interface methods cannot be generic
// expect: are called `sameName` in JavaScript
// expect: write `#[rename = "jsName"]`
// expect: a parameter cannot be `&mut`
// expect: a parameter of an interface method takes only `#[rename = "jsName"]`

#[tether::interface]
trait Broken {
    fn plain_fn_is_fine(&self) -> i32;
    async fn by_value(self) -> i32;
    #[getter]
    async fn size(&self, unit: String) -> i32;
    async fn generic<T>(&self, x: i32) -> i32;
    async fn same_name(&self) -> i32;
    #[rename = "sameName"]
    async fn other(&self) -> i32;
    #[rename(js)]
    async fn bad_rename(&self) -> i32;
    async fn mutable(&self, out: &mut Vec<i32>);
    async fn odd_attribute(&self, #[serde(default)] x: i32);
}

fn main() {}
