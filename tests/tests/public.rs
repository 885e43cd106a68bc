//! Public disclosure (issue 9): public cases are answered to anyone, masked by the one rule
//! set; a case that is not public answers exactly like one that does not exist.

use e2e::{Node, fixture};
use serde_json::{Value, json};

async fn get(node: &Node, path: &str) -> (u16, Value) {
    let r = node.anonymous_web().get(path).await.unwrap();
    (r.status.as_u16(), r.json().unwrap())
}

#[tokio::test]
async fn public_cases_are_masked_and_private_ones_are_indistinguishable_from_missing_ones() {
    let node = Node::start().await;
    let mut batch: Value =
        serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
    // A person's case made public as well (the fixture's is not public).
    let mut person = batch["records"][1].clone();
    person["caseNo"] = json!("SCJG-XF-20261120-0099");
    person["isPublic"] = json!(true);
    person.as_object_mut().unwrap().remove("notPublicReason");
    batch["records"].as_array_mut().unwrap().push(person);
    let r = node
        .client("xifeng-amr-system")
        .post(
            "/v1/ingest/market-regulation",
            "application/json",
            serde_json::to_vec(&batch).unwrap(),
        )
        .await
        .unwrap();
    let receipt = r.json().unwrap();
    assert_eq!(receipt["summary"]["accepted"], 4, "{receipt}");

    // An organization's public case: its registration stays, staff names and free text do not.
    let (status, body) = get(&node, "/public/v1/cases?case_no=SCJG-XF-20261118-0001").await;
    assert_eq!(status, 200, "{body}");
    let case = &body["cases"][0]["case"];
    assert_eq!(case["applicant"]["name"], "庆阳陇东云数据科技有限公司");
    assert_eq!(case["process_steps"][0]["actor"], "王*");
    assert!(case["process_steps"][0].get("opinion").is_none());
    assert!(case.get("source").is_none() && case.get("ingested_at").is_none());
    assert_eq!(
        case["result"]["certificates"][0]["surface"]["法定代表人"], "张*",
        "printed personal fields are masked too"
    );
    // A person's public case: name, identity number, phone and address masked.
    let (status, body) = get(&node, "/public/v1/cases?case_no=SCJG-XF-20261120-0099").await;
    assert_eq!(status, 200, "{body}");
    let applicant = &body["cases"][0]["case"]["applicant"];
    assert_eq!(
        applicant,
        &json!({"kind": "person", "name": "赵**", "id_type": "111",
                "id_number": "621***********1230", "phone": "139****1234",
                "address": "甘肃省庆阳市西峰区****"})
    );
    let record_id = body["cases"][0]["record_id"].as_str().unwrap().to_owned();
    let (status, by_id) = get(&node, &format!("/public/v1/cases/{record_id}")).await;
    assert_eq!((status, &by_id["case"]), (200, &body["cases"][0]["case"]));

    // Not public, or not there: the same answer, byte for byte.
    let private = get(&node, "/public/v1/cases?case_no=SCJG-XF-20261120-0007").await;
    let missing = get(&node, "/public/v1/cases?case_no=NO-SUCH-CASE").await;
    assert_eq!(private.0, 404);
    assert_eq!(private, missing);
    assert_eq!(private.1["code"], "public.not_found");
    let private_id: uuid::Uuid = node
        .db()
        .await
        .query_one(
            "SELECT record_id FROM case_records WHERE case_no = 'SCJG-XF-20261120-0007'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let private = get(&node, &format!("/public/v1/cases/{private_id}")).await;
    let missing = get(&node, &format!("/public/v1/cases/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(private, missing);
    assert_eq!(get(&node, "/public/v1/cases/not-a-uuid").await, missing);
}
