//! Passing a typed client by value transfers it: using it afterwards does not compile.
// expect: moved value: `counter`
// expect: value moved here

#[tether::interface]
trait Counter {
    async fn increment(&self, amount: i64) -> i64;
}

#[tether::interface]
trait Api {
    async fn keep(&self, counter: CounterClient) -> bool;
}

fn transfer(api: ApiClient, counter: CounterClient) {
    let _kept = api.keep(counter);
    let _again = counter.increment(1);
}

fn main() {}
