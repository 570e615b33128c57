//! `portcullis oci`: packs each filter's `.wasm` into an OCI image layout, in the "compat"
//! Wasm image variant that Istio's WasmPlugin and Envoy Gateway's EnvoyExtensionPolicy pull
//! (solo-io/wasm `spec-compat.md`; Istio's and Envoy Gateway's `imagefetcher.go`): an
//! image manifest whose one layer, `application/vnd.oci.image.layer.v1.tar+gzip`, is a tar
//! holding `plugin.wasm`, an `application/vnd.oci.image.config.v1+json` config, and the
//! manifest annotation `module.wasm.image/variant: compat`.
//!
//! The images are reproducible: the same `.wasm` and tag give the same bytes, hence the same
//! manifest digest, on every build and machine, so deployment manifests can pin digests
//! (`digests.json`). Tar entries have mtime 0, owner 0:0, no owner names and mode 0644; the
//! gzip header has mtime 0, no file name and a fixed OS byte; the compression level is fixed;
//! the config has no `created` time; JSON documents have their keys sorted.

use super::Status;
use crate::gateway::KNOWN_FILTERS;
use clap::Args;
use flate2::{Compression, GzBuilder};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os, RootFsBuilder,
    ANNOTATION_DESCRIPTION, ANNOTATION_LICENSES, ANNOTATION_REF_NAME, ANNOTATION_TITLE,
    ANNOTATION_VERSION,
};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name the compat variant requires for the module inside the layer.
const PLUGIN_FILE: &str = "plugin.wasm";

/// The manifest annotation that marks a compat-variant image with an OCI layer.
const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";

/// A core WebAssembly module starts with `\0asm` and version 1.
const WASM_PREAMBLE: [u8; 8] = *b"\0asm\x01\0\0\0";

/// Arguments of `portcullis oci`.
#[derive(Args)]
#[command(
    after_help = "Writes <out>/<filter>/ (an OCI image layout per filter) and <out>/digests.json.\n\
Exit status: 0 written, 2 usage or I/O error (a missing or invalid .wasm).\n\n\
Examples:\n  portcullis oci --wasm-dir build/wasm --out build/oci\n  \
skopeo copy oci:build/oci/portcullis_jwt:0.1.0 docker://REGISTRY/portcullis-jwt:0.1.0"
)]
pub struct OciArgs {
    /// Folder of the filters' `portcullis_<name>.wasm` files (`make wasm` writes them).
    #[arg(long, default_value = "build/wasm")]
    wasm_dir: PathBuf,
    /// Folder to write the image layouts and digests.json into.
    #[arg(long, default_value = "build/oci")]
    out: PathBuf,
    /// The images' tag (`org.opencontainers.image.ref.name` in each index.json).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
}

/// One built image: its blobs by sha256 hex, and the layout's top-level documents.
struct Image {
    /// `(sha256 hex, bytes)` of the layer, the config and the manifest.
    blobs: Vec<(String, Vec<u8>)>,
    /// The manifest's digest, `sha256:<hex>`.
    manifest_digest: String,
    /// The layout's `index.json`.
    index: Vec<u8>,
    /// The layout's `oci-layout`.
    layout: Vec<u8>,
}

/// The shape of `digests.json`, read by `portcullis render` to pin images.
#[derive(Serialize)]
struct Digests {
    tag: String,
    images: Map<String, Value>,
}

/// Writes one image layout per filter and `digests.json`; prints one line per filter.
pub fn run(args: &OciArgs) -> Result<Status, String> {
    check_tag(&args.tag)?;
    let mut modules = Vec::new();
    for filter in KNOWN_FILTERS {
        let path = args.wasm_dir.join(format!("{filter}.wasm"));
        modules.push((*filter, read_module(&path)?));
    }
    let mut images = Map::new();
    for (filter, wasm) in &modules {
        let image = build_image(filter, wasm, &args.tag)?;
        let dir = args.out.join(filter);
        write_layout(&dir, &image)?;
        println!("{filter} {} {}", dir.display(), image.manifest_digest);
        images.insert(
            (*filter).to_owned(),
            serde_json::json!({"digest": image.manifest_digest, "wasm_sha256": sha256_hex(wasm)}),
        );
    }
    let digests = Digests {
        tag: args.tag.clone(),
        images,
    };
    let mut text = serde_json::to_string_pretty(&digests).map_err(|e| format!("digests: {e}"))?;
    text.push('\n');
    let path = args.out.join("digests.json");
    std::fs::write(&path, text).map_err(|e| format!("--out {}: {e}", path.display()))?;
    Ok(Status::Ok)
}

/// Reads a `.wasm` file and checks it is a core WebAssembly module.
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!(
                "--wasm-dir: {} is missing (run `make wasm`)",
                path.display()
            )
        }
        _ => format!("--wasm-dir: {}: {e}", path.display()),
    })?;
    if !bytes.starts_with(&WASM_PREAMBLE) {
        return Err(format!(
            "--wasm-dir: {} is not a wasm module (it does not start with `\\0asm` version 1)",
            path.display()
        ));
    }
    Ok(bytes)
}

/// A tag as registries accept it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag.chars().all(valid_char)
        && !tag.starts_with(['.', '-']);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "--tag `{tag}`: not a valid image tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ))
    }
}

/// Builds the compat-variant image of one filter.
fn build_image(filter: &str, wasm: &[u8], tag: &str) -> Result<Image, String> {
    let err = |e: oci_spec::OciSpecError| format!("{filter}: building the image: {e}");
    let tar = layer_tar(wasm).map_err(|e| format!("{filter}: writing the layer tar: {e}"))?;
    let layer = gzip(&tar).map_err(|e| format!("{filter}: compressing the layer: {e}"))?;
    let labels = labels(filter, tag);

    let config = ImageConfigurationBuilder::default()
        .architecture(Arch::Wasm)
        .os(Os::Other("wasip1".to_owned()))
        .config(
            ConfigBuilder::default()
                .labels(labels.clone())
                .build()
                .map_err(err)?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![format!("sha256:{}", sha256_hex(&tar))])
                .build()
                .map_err(err)?,
        )
        .build()
        .map_err(err)?;
    let config = canonical_json(&config)?;

    let mut annotations = labels;
    annotations.insert(VARIANT_ANNOTATION.to_owned(), "compat".to_owned());
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, &config, None)?)
        .layers(vec![descriptor(MediaType::ImageLayerGzip, &layer, None)?])
        .annotations(annotations)
        .build()
        .map_err(err)?;
    let manifest = canonical_json(&manifest)?;

    let reference = HashMap::from([(ANNOTATION_REF_NAME.to_owned(), tag.to_owned())]);
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor(
            MediaType::ImageManifest,
            &manifest,
            Some(reference),
        )?])
        .build()
        .map_err(err)?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .map_err(err)?;

    let manifest_hex = sha256_hex(&manifest);
    Ok(Image {
        manifest_digest: format!("sha256:{manifest_hex}"),
        index: canonical_json(&index)?,
        layout: canonical_json(&layout)?,
        blobs: vec![
            (sha256_hex(&layer), layer),
            (sha256_hex(&config), config),
            (manifest_hex, manifest),
        ],
    })
}

/// What the image says about itself: manifest annotations and config labels alike.
fn labels(filter: &str, tag: &str) -> HashMap<String, String> {
    HashMap::from([
        (ANNOTATION_TITLE.to_owned(), filter.to_owned()),
        (ANNOTATION_VERSION.to_owned(), tag.to_owned()),
        (
            ANNOTATION_LICENSES.to_owned(),
            env!("CARGO_PKG_LICENSE").to_owned(),
        ),
        (
            ANNOTATION_DESCRIPTION.to_owned(),
            format!("Portcullis {filter} proxy-wasm filter (wasm32-wasip1), {PLUGIN_FILE}"),
        ),
    ])
}

/// A descriptor of `bytes`.
fn descriptor(
    media_type: MediaType,
    bytes: &[u8],
    annotations: Option<HashMap<String, String>>,
) -> Result<Descriptor, String> {
    let digest: Digest = format!("sha256:{}", sha256_hex(bytes))
        .parse()
        .map_err(|e| format!("digest: {e}"))?;
    let size = u64::try_from(bytes.len()).map_err(|e| format!("size: {e}"))?;
    let builder = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size);
    let builder = match annotations {
        Some(annotations) => builder.annotations(annotations),
        None => builder,
    };
    builder.build().map_err(|e| format!("descriptor: {e}"))
}

/// The uncompressed layer: one regular file, `plugin.wasm`, with a fixed header.
fn layer_tar(wasm: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(u64::try_from(wasm.len()).map_err(std::io::Error::other)?);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(&mut header, PLUGIN_FILE, wasm)?;
    builder.into_inner()
}

/// Gzip with a fixed header (mtime 0, no name, OS byte 255) and level 9.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Compact JSON with every object's keys sorted: oci-spec keeps annotations in `HashMap`s,
/// whose order changes from run to run.
fn canonical_json<T: Serialize>(document: &T) -> Result<Vec<u8>, String> {
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let value = serde_json::to_value(document).map_err(|e| format!("json: {e}"))?;
    serde_json::to_vec(&sorted(value)).map_err(|e| format!("json: {e}"))
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes an image layout into `dir`, replacing an earlier layout there (stale blobs go).
fn write_layout(dir: &Path, image: &Image) -> Result<(), String> {
    let io = |path: &Path, e: std::io::Error| format!("--out {}: {e}", path.display());
    if dir.exists() {
        if !dir.join("oci-layout").is_file() {
            return Err(format!(
                "--out {}: exists and is not an OCI image layout; not replacing it",
                dir.display()
            ));
        }
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| io(&blobs, e))?;
    for (hex, bytes) in &image.blobs {
        let path = blobs.join(hex);
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    for (name, bytes) in [("oci-layout", &image.layout), ("index.json", &image.index)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    Ok(())
}
