//! The ai.onnx.ml operators other than tree ensembles and SVMs, following
//! the ONNX-ML spec and, where the spec leaves room, onnxruntime's
//! kernels (the engine users compare against): linear models (`linear`),
//! the operators that prepare features (`features`) and the encoders of
//! categories (`encoders`).

use super::op::{Attrs, Op};
use super::post::Labels;
use crate::ml::error::ModelError;
use crate::ml::value::Keys;

mod encoders;
mod features;
mod linear;

use encoders::{CategoryMapper, LabelEncoder, OneHotEncoder};
use features::{
    ArrayFeatureExtractor, Binarizer, FeatureVectorizer, Imputer, Normalizer, Scaler, ZipMap,
};
use linear::{LinearClassifier, LinearRegressor};

pub fn build(op: &str, a: &Attrs, opset: i64) -> Result<Option<Box<dyn Op>>, ModelError> {
    Ok(Some(match op {
        "LinearClassifier" => Box::new(LinearClassifier::new(a)?),
        "LinearRegressor" => Box::new(LinearRegressor::new(a)?),
        "Scaler" => Box::new(Scaler {
            offset: a.floats("offset"),
            scale: a.floats("scale"),
        }),
        "Normalizer" => Box::new(Normalizer {
            norm: a.string("norm", "MAX")?,
        }),
        "Imputer" => Box::new(Imputer::new(a)?),
        "Binarizer" => Box::new(Binarizer {
            threshold: a.float("threshold", 0.0),
        }),
        "ZipMap" => Box::new(ZipMap {
            keys: match Labels::from_attrs(a, "classlabels_int64s", "classlabels_strings")? {
                Labels::I64(k) => Keys::I64(k),
                Labels::Str(k) => Keys::Str(k),
            },
        }),
        "ArrayFeatureExtractor" => Box::new(ArrayFeatureExtractor),
        "FeatureVectorizer" => Box::new(FeatureVectorizer {
            dims: a.ints("inputdimensions"),
        }),
        "OneHotEncoder" => Box::new(OneHotEncoder::new(a)?),
        "LabelEncoder" => Box::new(LabelEncoder::new(a, opset)?),
        "CategoryMapper" => Box::new(CategoryMapper {
            ints: a.ints("cats_int64s"),
            strings: a.strings("cats_strings")?,
            default_int: a.int("default_int64", -1),
            default_string: a.string("default_string", "_Unused")?,
        }),
        _ => return Ok(None),
    }))
}
