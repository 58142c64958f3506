//! Model weights as safetensors, the format PyTorch, candle and the Hugging
//! Face hub exchange: a JSON header of names, dtypes, shapes and offsets, then
//! the raw little-endian values.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use descent_autograd::{Parameter, Tensor};
use safetensors::{Dtype, SafeTensors, View};

use super::atomic::write_atomically;
use super::error::{io_error, CheckpointError};
use super::model::{LoadMode, LoadReport, Matching};

/// Writes `tensors` (parameters and buffers, by name) to a safetensors file,
/// as `F32`, atomically.
///
/// Names are kept as they are, so a descent `Linear` layer's `"fc1.weight"`
/// (shape `[out, in]`, PyTorch's layout) loads into a PyTorch
/// `nn.Linear` named `fc1` with `model.load_state_dict(safetensors.torch.load_file(path))`.
///
/// # Errors
/// [`CheckpointError::Invalid`] if two tensors share a name;
/// [`CheckpointError::Io`] if the file cannot be written.
pub fn save_weights_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Parameter)],
) -> Result<(), CheckpointError> {
    save_safetensors(path, tensors, HashMap::new())
}

/// Writes `tensors` with `metadata` entries besides the producer.
pub(crate) fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Parameter)],
    mut metadata: HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let mut seen = HashSet::with_capacity(tensors.len());
    let mut views = Vec::with_capacity(tensors.len());
    for (name, parameter) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(CheckpointError::Invalid(format!(
                "the tensor name `{name}` is used twice"
            )));
        }
        let value = parameter.value();
        views.push((
            name.as_str(),
            F32View {
                shape: value.shape().to_vec(),
                bytes: value.iter().flat_map(|v| v.to_le_bytes()).collect(),
            },
        ));
    }
    metadata.insert(
        "producer".to_owned(),
        format!("descent {}", env!("CARGO_PKG_VERSION")),
    );
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|error| CheckpointError::Safetensors(error.to_string()))?;
    write_atomically(path, |file| file.write_all(&bytes))
}

/// Loads the `F32` tensors of a safetensors file into `tensors` by name.
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be read;
/// [`CheckpointError::Safetensors`] if it is not a valid safetensors file,
/// including one whose header names a tensor twice;
/// [`CheckpointError::UnsupportedDtype`] if a tensor the model needs is not
/// `F32`; in [`LoadMode::Strict`], [`CheckpointError::ModelMismatch`] listing
/// every missing, unexpected and reshaped tensor. On error the model is left
/// untouched.
pub fn load_weights_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Parameter)],
    mode: LoadMode,
) -> Result<LoadReport, CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_error("read", path))?;
    load_weights_safetensors_from_bytes(&bytes, tensors, mode)
}

/// [`load_weights_safetensors`] from the bytes of a file.
///
/// # Errors
/// As [`load_weights_safetensors`], less the I/O.
pub fn load_weights_safetensors_from_bytes(
    bytes: &[u8],
    tensors: &[(String, Parameter)],
    mode: LoadMode,
) -> Result<LoadReport, CheckpointError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|error| CheckpointError::Safetensors(error.to_string()))?;
    refuse_repeated_names(bytes)?;
    let mut saved = file.tensors();
    // The header is a JSON object; sorting gives reports a stable order.
    saved.sort_by(|(a, _), (b, _)| a.cmp(b));

    let matching = Matching::by_name(
        tensors,
        saved
            .iter()
            .map(|(name, view)| (name.as_str(), view.shape())),
    );
    matching.check(mode)?;
    let values = matching
        .pairs
        .iter()
        .map(|&(_, source_index)| {
            let (name, view) = &saved[source_index];
            to_f32_tensor(name, view)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(matching.apply(tensors, values))
}

/// Refuses a header that uses a name twice. The safetensors crate reads the
/// header into a map where the last entry of a name silently replaces the
/// earlier ones, which it then never checks; so the header (already known
/// to be a valid JSON object of a sane size) is read again, as a stream of
/// keys.
fn refuse_repeated_names(bytes: &[u8]) -> Result<(), CheckpointError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct UniqueKeys;

    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = Option<String>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    return Ok(Some(key));
                }
            }
            Ok(None)
        }
    }

    impl<'de> DeserializeSeed<'de> for UniqueKeys {
        type Value = Option<String>;

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    // `deserialize` has checked the 8-byte length and that the header lies
    // within the file.
    let header_len = bytes
        .get(..8)
        .and_then(|len| usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok());
    let Some(header) = header_len.and_then(|len| bytes.get(8..8usize.checked_add(len)?)) else {
        return Err(CheckpointError::Safetensors(
            "the header length does not fit the file".to_owned(),
        ));
    };
    let repeated = UniqueKeys
        .deserialize(&mut serde_json::Deserializer::from_slice(header))
        .map_err(|error| CheckpointError::Safetensors(format!("the header: {error}")))?;
    match repeated {
        Some(name) => Err(CheckpointError::Safetensors(format!(
            "the header names `{name}` twice; a tensor name may appear once only"
        ))),
        None => Ok(()),
    }
}

fn to_f32_tensor(
    name: &str,
    view: &safetensors::tensor::TensorView<'_>,
) -> Result<Tensor, CheckpointError> {
    if view.dtype() != Dtype::F32 {
        return Err(CheckpointError::UnsupportedDtype {
            name: name.to_owned(),
            dtype: view.dtype().to_string(),
        });
    }
    // The data of a tensor starts at an arbitrary offset in the file, so it
    // is decoded bytewise rather than reinterpreted in place.
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("chunks of 4")))
        .collect();
    Tensor::from_shape_vec(view.shape().to_vec(), values)
        .map_err(|error| CheckpointError::Safetensors(format!("tensor `{name}`: {error}")))
}

/// An `F32` tensor's bytes, little-endian, for the safetensors writer.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}
