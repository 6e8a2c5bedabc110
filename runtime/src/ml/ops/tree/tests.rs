use super::build;
use crate::ml::ModelError;
use crate::ml::ops::op::Attrs;
use crate::ml::proto::{AttributeProto, NodeProto};
use crate::ml::value::{Arr, Tensor, Value};

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..Default::default()
    }
}

fn regressor(n_targets: i64, yes: i64, no: i64) -> NodeProto {
    let modes: Vec<Vec<u8>> = vec![b"BRANCH_LEQ".to_vec(), b"LEAF".to_vec(), b"LEAF".to_vec()];
    NodeProto {
        op_type: "TreeEnsembleRegressor".into(),
        domain: "ai.onnx.ml".into(),
        attribute: vec![
            AttributeProto {
                name: "n_targets".into(),
                i: n_targets,
                r#type: 2,
                ..Default::default()
            },
            ints("nodes_treeids", &[0, 0, 0]),
            ints("nodes_nodeids", &[0, 1, 2]),
            ints("nodes_featureids", &[0, 0, 0]),
            AttributeProto {
                name: "nodes_values".into(),
                floats: vec![0.5, 0.0, 0.0],
                r#type: 6,
                ..Default::default()
            },
            AttributeProto {
                name: "nodes_modes".into(),
                strings: modes,
                r#type: 8,
                ..Default::default()
            },
            ints("nodes_truenodeids", &[yes, 0, 0]),
            ints("nodes_falsenodeids", &[no, 0, 0]),
            ints("target_ids", &[0, 0]),
            ints("target_nodeids", &[1, 2]),
            ints("target_treeids", &[0, 0]),
            AttributeProto {
                name: "target_weights".into(),
                floats: vec![1.0, 2.0],
                r#type: 6,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn run(node: &NodeProto, x: Vec<f32>) -> Result<Vec<f32>, ModelError> {
    let op = build(&node.op_type, &Attrs(node))?.ok_or("no op")?;
    let n = x.len();
    let out = op.run(&[Some(&Value::T(Tensor::F32(Arr::new(vec![n, 1], x)?)))])?;
    match &out[0] {
        Value::T(Tensor::F32(a)) => Ok(a.data.clone()),
        other => Err(format!("{other:?}").into()),
    }
}

#[test]
fn a_tree_routes_rows_by_its_threshold() {
    assert_eq!(
        run(&regressor(1, 1, 2), vec![0.2, 0.9, 0.5]).unwrap(),
        [1.0, 2.0, 1.0]
    );
}

#[test]
fn a_damaged_target_count_is_refused_before_any_allocation() {
    let err = run(&regressor(1 << 40, 1, 2), vec![0.2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("targets"), "{err}");
}

#[test]
fn a_tree_that_loops_or_points_nowhere_is_refused() {
    // Node 0's true branch is node 0 itself; then a branch to node 7.
    let err = run(&regressor(1, 0, 2), vec![0.2]).unwrap_err().to_string();
    assert!(err.contains("itself"), "{err}");
    let err = run(&regressor(1, 7, 2), vec![0.2]).unwrap_err().to_string();
    assert!(err.contains("does not have"), "{err}");
}
