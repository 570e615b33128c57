#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `portcullis oci`: reproducible compat-variant Wasm images, built from the small modules
//! in `fixtures/oci/wasm/` (a wasm preamble and one custom section each).

mod common;

use common::{code, fixture, portcullis, repo, stderr, stdout};
use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const FILTERS: &[&str] = &[
    "portcullis_jwt",
    "portcullis_tenant",
    "portcullis_authz",
    "portcullis_redact",
    "portcullis_accounts",
];

/// A fresh, empty folder under Cargo's temporary folder for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("oci-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `portcullis oci` on `wasm_dir` into `out` with tag 0.1.0; asserts it succeeded.
fn build(wasm_dir: &str, out: &Path) -> String {
    let output = oci(wasm_dir, out);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    stdout(&output)
}

fn oci(wasm_dir: &str, out: &Path) -> std::process::Output {
    let out = out.to_str().unwrap();
    portcullis(&[
        "oci",
        "--wasm-dir",
        wasm_dir,
        "--out",
        out,
        "--tag",
        "0.1.0",
    ])
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_path_buf();
                found.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

/// The image manifest that `index.json` tags 0.1.0.
fn manifest(layout: &Path) -> ImageManifest {
    let index = ImageIndex::from_file(layout.join("index.json")).unwrap();
    let [descriptor] = index.manifests().as_slice() else {
        panic!("index.json should list one manifest");
    };
    let tag = descriptor.annotations().as_ref().unwrap();
    assert_eq!(tag["org.opencontainers.image.ref.name"], "0.1.0");
    let bytes = blob(layout, descriptor.digest().as_ref());
    ImageManifest::from_reader(bytes.as_slice()).unwrap()
}

/// The fixtures copied to a scratch folder, to break one of them.
fn fixture_copy(name: &str) -> PathBuf {
    let dir = scratch(name);
    for filter in FILTERS {
        let file = format!("{filter}.wasm");
        let source = repo().join(fixture("oci/wasm")).join(&file);
        std::fs::copy(source, dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn two_builds_write_byte_identical_layouts() {
    let (first, second) = (scratch("first"), scratch("second"));
    let printed = build(&fixture("oci/wasm"), &first);
    build(&fixture("oci/wasm"), &second);
    let (first_files, second_files) = (files(&first), files(&second));
    assert_eq!(
        first_files.len(),
        1 + FILTERS.len() * 5,
        "{:?}",
        first_files.keys()
    );
    assert!(first_files == second_files, "the two builds differ");
    assert_eq!(printed.lines().count(), FILTERS.len(), "{printed}");
}

#[test]
fn printed_lines_name_each_filter_its_folder_and_manifest_digest() {
    let out = scratch("printed");
    let printed = build(&fixture("oci/wasm"), &out);
    let lines: Vec<&str> = printed.lines().collect();
    for (line, filter) in lines.iter().zip(FILTERS) {
        let layout = out.join(filter);
        let digest = format!("sha256:{}", hex_sha256(&blob_of_manifest(&layout)));
        assert_eq!(*line, format!("{filter} {} {digest}", layout.display()));
    }
}

#[test]
fn digests_json_lists_each_filter_in_order_with_manifest_and_wasm_digests() {
    let out = scratch("digests");
    build(&fixture("oci/wasm"), &out);
    let text = std::fs::read_to_string(out.join("digests.json")).unwrap();
    assert!(text.ends_with("}\n"), "{text}");
    let digests: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(digests["tag"], "0.1.0");
    let images = digests["images"].as_object().unwrap();
    let names: Vec<&str> = images.keys().map(String::as_str).collect();
    assert_eq!(names, FILTERS);
    for filter in FILTERS {
        let layout = out.join(filter);
        let wasm = std::fs::read(
            repo()
                .join(fixture("oci/wasm"))
                .join(format!("{filter}.wasm")),
        );
        let manifest_hex = hex_sha256(&blob_of_manifest(&layout));
        assert_eq!(images[*filter]["digest"], format!("sha256:{manifest_hex}"));
        assert_eq!(images[*filter]["wasm_sha256"], hex_sha256(&wasm.unwrap()));
    }
}

#[test]
fn layer_tar_holds_only_plugin_wasm_with_the_module_bytes() {
    let out = scratch("layer");
    build(&fixture("oci/wasm"), &out);
    for filter in FILTERS {
        let layout = out.join(filter);
        let manifest = manifest(&layout);
        let gz = blob(&layout, manifest.layers()[0].digest().as_ref());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
        let mut entries = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            let path = entry.path().unwrap().display().to_string();
            entries.push((path, header.mode().unwrap(), header.mtime().unwrap(), bytes));
        }
        let wasm = std::fs::read(
            repo()
                .join(fixture("oci/wasm"))
                .join(format!("{filter}.wasm")),
        );
        assert_eq!(
            entries,
            vec![("plugin.wasm".into(), 0o644, 0, wasm.unwrap())]
        );
    }
}

#[test]
fn manifest_has_one_gzip_tar_layer_and_an_image_config_in_the_compat_variant() {
    let out = scratch("media-types");
    build(&fixture("oci/wasm"), &out);
    for filter in FILTERS {
        let manifest = manifest(&out.join(filter));
        assert_eq!(manifest.media_type(), &Some(MediaType::ImageManifest));
        assert_eq!(
            manifest.config().media_type().to_string(),
            "application/vnd.oci.image.config.v1+json"
        );
        let layers: Vec<String> = manifest
            .layers()
            .iter()
            .map(|layer| layer.media_type().to_string())
            .collect();
        assert_eq!(layers, ["application/vnd.oci.image.layer.v1.tar+gzip"]);
        let annotations = manifest.annotations().as_ref().unwrap();
        assert_eq!(annotations["module.wasm.image/variant"], "compat");
    }
}

#[test]
fn config_diff_id_is_the_sha256_of_the_uncompressed_layer() {
    let out = scratch("diff-id");
    build(&fixture("oci/wasm"), &out);
    let layout = out.join("portcullis_jwt");
    let manifest = manifest(&layout);
    let config: Value =
        serde_json::from_slice(&blob(&layout, manifest.config().digest().as_ref())).unwrap();
    let gz = blob(&layout, manifest.layers()[0].digest().as_ref());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    let diff_ids = &config["rootfs"]["diff_ids"];
    assert_eq!(
        *diff_ids,
        serde_json::json!([format!("sha256:{}", hex_sha256(&tar))])
    );
    assert!(config.get("created").is_none(), "{config}");
}

#[test]
fn a_file_that_is_not_wasm_is_refused_by_name() {
    let wasm_dir = fixture_copy("not-wasm");
    let bad = wasm_dir.join("portcullis_authz.wasm");
    std::fs::copy(repo().join(fixture("oci/not-wasm.txt")), &bad).unwrap();
    let output = oci(wasm_dir.to_str().unwrap(), &scratch("not-wasm-out"));
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(message.contains(&bad.display().to_string()), "{message}");
    assert!(message.contains("not a wasm module"), "{message}");
}

#[test]
fn a_missing_module_is_refused_by_name() {
    let wasm_dir = fixture_copy("missing");
    let missing = wasm_dir.join("portcullis_redact.wasm");
    std::fs::remove_file(&missing).unwrap();
    let output = oci(wasm_dir.to_str().unwrap(), &scratch("missing-out"));
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("missing"), "{message}");
}

fn blob_of_manifest(layout: &Path) -> Vec<u8> {
    let index = ImageIndex::from_file(layout.join("index.json")).unwrap();
    blob(layout, index.manifests()[0].digest().as_ref())
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_tag_a_registry_would_refuse_is_refused() {
    let out = scratch("bad-tag");
    let output = portcullis(&[
        "oci",
        "--wasm-dir",
        &fixture("oci/wasm"),
        "--out",
        out.to_str().unwrap(),
        "--tag",
        "v1:latest",
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("--tag `v1:latest`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_folder_that_is_not_an_image_layout_is_not_replaced() {
    let out = scratch("not-a-layout");
    let keep = out.join("portcullis_jwt").join("keep.txt");
    std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
    std::fs::write(&keep, "mine").unwrap();
    let output = oci(&fixture("oci/wasm"), &out);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("not an OCI image layout"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine");
}
