#!/usr/bin/env bash
# Downloads TrashNet (dataset-resized, 2527 images) and its canonical split files from the
# dataset's public repository, then checks every image against data/trashnet.sha256.
# Usage: scripts/get_trashnet.sh [DEST]   (default data/trashnet)
# Override the source with TRASHNET_BASE_URL (a folder holding dataset-resized.zip and the
# one-indexed-files*.txt split files).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/trashnet}
base=${TRASHNET_BASE_URL:-https://github.com/garythung/trashnet/raw/master/data}
sums=$PWD/data/trashnet.sha256

mkdir -p "$dest"
fetch() { curl -fL --retry 3 -o "$2" "$1"; }

if [[ ! -d $dest/dataset-resized ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "get_trashnet: downloading $base/dataset-resized.zip"
  fetch "$base/dataset-resized.zip" "$tmp/dataset-resized.zip"
  unzip -q "$tmp/dataset-resized.zip" -d "$tmp"
  mv "$tmp/dataset-resized" "$dest/dataset-resized"
fi
for split in one-indexed-files.txt one-indexed-files-notrash_{train,val,test}.txt; do
  [[ -f $dest/$split ]] || fetch "$base/$split" "$dest/$split"
done

echo "get_trashnet: checking sha256 of every image"
(cd "$dest/dataset-resized" && sha256sum --quiet -c "$sums")
cp "$sums" "$dest/SHA256SUMS"
echo "get_trashnet: TrashNet ready in $dest"
