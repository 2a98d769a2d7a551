//! Parameter and result types without serde support are rejected at the type, naming the trait.
// expect: the trait bound `NotData: serde::Serialize` is not satisfied
// expect: consider adding `#[derive(serde::Serialize)]` to your `NotData` type
// expect: the trait bound `OutOnly: serde::de::DeserializeOwned` is not satisfied
// expect: async fn give(&self) -> OutOnly;
// expect: async fn take(&self, value: NotData) -> i32;

struct NotData;

#[tether::interface]
trait Api {
    async fn take(&self, value: NotData) -> i32;
}

#[derive(serde::Serialize)]
struct OutOnly;

#[tether::interface]
trait Results {
    async fn give(&self) -> OutOnly;
}

fn main() {}
