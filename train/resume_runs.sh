#!/usr/bin/env bash
# (Re)start the face-model distillation runs in the background, one core each, niced, resumable:
#   bash train/resume_runs.sh RUNS_DIR SHARED_DIR STYLE...      e.g. bash train/resume_runs.sh ~/animegan-runs ../shared cute shinkai
# Each style's run folder continues from its last checkpoint; on a fresh machine it starts from the committed fp16
# weights (weights/checkpoints/<style>.face.safetensors) when they exist. Logs: RUNS_DIR/<style>_face.log.
set -euo pipefail
runs=$1 shared=$2
shift 2
cd "$(dirname "$0")/.."
teachers=$shared/teachers
faces=$runs/faces512
if [ ! -d "$faces/train" ]; then
  python -m train.align_faces --photos "$shared/photos/faces_hq" "$shared/photos/portraits" \
    "$shared"/photos/faces/celebahq* "$shared"/photos/faces/deepface* --out "$faces"
fi
for style in "$@"; do
  chain=("$teachers/cute.onnx")
  [ "$style" = cute ] || chain+=("$teachers/$style.onnx")
  out=$runs/${style}_face
  init=()
  if [ ! -f "$out/last.safetensors" ] && [ -f "weights/checkpoints/$style.face.safetensors" ]; then
    init=(--init "weights/checkpoints/$style.face.safetensors")
  fi
  nohup nice -n 19 python -m train.distill --teacher "${chain[@]}" --arch unet --photos "$faces/train" \
    --out "$out" --steps 20000 --batch 4 --crop 256 --sizes 512 --val-size 512 --val-count 16 \
    --perceptual "$teachers/mobilenet_v2_imagenet.onnx:feat_s4" --perceptual-weight 0.1 \
    --threads 1 --teacher-threads 1 --resume "${init[@]}" > "$runs/${style}_face.log" 2>&1 &
  echo "started $style face run (pid $!): $out"
done
