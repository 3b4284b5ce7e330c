//! The official mongodb driver against the real FerretDB: insert, find, and a unique
//! index that is both listed and enforced.

use futures::TryStreamExt;
use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;

use crate::support::{stores, unique};

#[tokio::test]
async fn insert_find_and_unique_index_work_through_ferretdb() {
    let mut config = stores().mongo;
    config.database = unique("smoke");
    let database = config.database("smoke-test").await.expect("client");
    let messages = database.collection::<Document>("messages");

    messages
        .create_index(
            IndexModel::builder()
                .keys(doc! { "channel_id": 1, "seq": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .expect("create index");
    messages
        .insert_many([
            doc! { "channel_id": "7", "seq": 2_i64, "content": "second" },
            doc! { "channel_id": "7", "seq": 1_i64, "content": "first" },
            doc! { "channel_id": "8", "seq": 1_i64, "content": "elsewhere" },
        ])
        .await
        .expect("insert");

    let found: Vec<Document> = messages
        .find(doc! { "channel_id": "7" })
        .sort(doc! { "seq": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor");
    let contents: Vec<&str> = found
        .iter()
        .map(|d| d.get_str("content").expect("content"))
        .collect();
    assert_eq!(contents, ["first", "second"]);

    let indexes = messages.list_index_names().await.expect("list indexes");
    assert!(
        indexes.contains(&"channel_id_1_seq_1".to_owned()),
        "{indexes:?}"
    );
    let duplicate = messages
        .insert_one(doc! { "channel_id": "7", "seq": 1_i64, "content": "again" })
        .await
        .expect_err("the unique index rejects a duplicate");
    assert!(
        matches!(*duplicate.kind, ErrorKind::Write(_)),
        "expected a duplicate-key write error, got {duplicate}"
    );

    database.drop().await.expect("drop database");
}
