//! A stub parameter taken by reference is only lent for the call: keeping it needs a duplicate.
// expect: borrowed data escapes outside of method
// expect: `probe`

use std::sync::Mutex;

#[tether::interface]
pub trait Probe {
    fn ping(&self) -> String;
}

#[tether::interface]
pub trait Keeper {
    fn keep(&self, probe: &ProbeClient);
}

struct Keep(Mutex<Vec<&'static ProbeClient>>);

impl Keeper for Keep {
    fn keep(&self, probe: &ProbeClient) {
        self.0.lock().unwrap().push(probe);
    }
}

fn main() {}
