//! Typed `map` over an in-process session: a remote list mapped with a typed remote call per
//! element comes back as a typed list in one round trip (counted in frames); `None` and an empty
//! list map without running the recording; an error inside the mapper rejects the map.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use tether::RpcError;

#[tether::interface]
trait Directory {
    async fn list_ids(&self) -> Vec<i64>;
    async fn empty_ids(&self) -> Vec<i64>;
    /// The ids with one unknown id (99) among them.
    async fn bad_ids(&self) -> Vec<i64>;
    async fn find_id(&self, name: String) -> Option<i64>;
    async fn name_of(&self, id: i64) -> Result<String, RpcError>;
    async fn greet(&self, id: Option<i64>) -> String;
}

struct Names;

const NAMES: [&str; 3] = ["ada", "bob", "cy"];

impl Directory for Names {
    async fn list_ids(&self) -> Vec<i64> {
        vec![0, 1, 2]
    }
    async fn empty_ids(&self) -> Vec<i64> {
        Vec::new()
    }
    async fn bad_ids(&self) -> Vec<i64> {
        vec![0, 99]
    }
    async fn find_id(&self, name: String) -> Option<i64> {
        NAMES.iter().position(|n| *n == name).map(|i| i as i64)
    }
    async fn name_of(&self, id: i64) -> Result<String, RpcError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map(|n| (*n).to_owned())
            .ok_or_else(|| RpcError::range_error(format!("no id {id}")))
    }
    async fn greet(&self, id: Option<i64>) -> String {
        format!("hello {id:?}")
    }
}

fn setup() -> (DirectoryClient, Connection) {
    let conn = connect(DirectoryClient::serve(Names).into());
    (DirectoryClient::from(conn.api.clone()), conn)
}

#[tokio::test]
async fn a_typed_map_with_a_typed_call_per_element_costs_one_round_trip() {
    let (api, conn) = setup();
    conn.log.clear();
    let names: Vec<String> = api
        .list_ids()
        .map(|id| api.with_promises().name_of(id))
        .await
        .unwrap();
    assert_eq!(names, ["ada", "bob", "cy"]);
    let all = conn.log.all();
    assert!(all.len() >= 4, "{all:?}");
    // Both pushes and the pull leave before any frame comes back.
    assert_eq!(
        &all[..3],
        &[
            r#"> ["push",["pipeline",0,["listIds"],[]]]"#.to_owned(),
            r#"> ["push",["remap",1,[],[["import",0]],[["pipeline",-1,["nameOf"],[["pipeline",0]]],["pipeline",1]]]]"#.to_owned(),
            r#"> ["pull",2]"#.to_owned(),
        ],
        "{all:?}"
    );
    assert!(all[3].starts_with("< "), "{all:?}");
}

#[tokio::test]
async fn mapping_none_or_an_empty_list_does_not_run_the_mapper_remotely() {
    let (api, _conn) = setup();
    let empty: Vec<String> = api
        .empty_ids()
        .map(|id| api.with_promises().name_of(id))
        .await
        .unwrap();
    assert!(empty.is_empty());

    let none: Option<String> = api
        .find_id("nobody".to_owned())
        .map(|id| api.with_promises().name_of(id))
        .await
        .unwrap();
    assert_eq!(none, None);

    let some: Option<String> = api
        .find_id("bob".to_owned())
        .map(|id| api.with_promises().name_of(&id))
        .await
        .unwrap();
    assert_eq!(some.as_deref(), Some("bob"));
}

#[tokio::test]
async fn an_element_placeholder_fills_an_option_parameter() {
    let (api, _conn) = setup();
    let greetings: Vec<String> = api
        .list_ids()
        .map(|id| api.with_promises().greet(id))
        .await
        .unwrap();
    assert_eq!(
        greetings,
        ["hello Some(0)", "hello Some(1)", "hello Some(2)"]
    );
}

#[tokio::test]
async fn an_error_inside_the_mapper_rejects_the_map() {
    let (api, _conn) = setup();
    let error = api
        .bad_ids()
        .map(|id| api.with_promises().name_of(id))
        .await
        .unwrap_err();
    assert_eq!(error.name, "RangeError");
    assert_eq!(error.message, "no id 99");
}

#[tokio::test]
async fn a_promise_argument_outside_a_map_is_pipelined() {
    let (api, conn) = setup();
    conn.log.clear();
    let id = api.find_id("cy".to_owned());
    // `Option<i64>` result passed where an `Option<i64>` is expected.
    let greeting = api.with_promises().greet(&id).await.unwrap();
    assert_eq!(greeting, "hello Some(2)");
    // Plain values still work through the view.
    assert_eq!(api.with_promises().name_of(1).await.unwrap(), "bob");
}
