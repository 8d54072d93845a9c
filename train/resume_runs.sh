#!/usr/bin/env bash
# (Re)start distillation runs in the background, one core each, niced, resumable:
#   bash train/resume_runs.sh RUNS_DIR SHARED_DIR RUN...      e.g. bash train/resume_runs.sh ~/animegan-runs ../shared cute_face shinkai_picture
# RUN is <style>_face (the face model: U-Net on FFHQ-aligned 512² faces, teachers cute → style), <style>_picture
# (a whole-picture U-Net on held-in scenes and people at several scales, the style's own teacher), <style>_context
# (the same data; the shipped whole-picture FastGenerator grown into a ContextGenerator that also sees down to 1/16,
# or, if the shipped student is told the whole picture, into a context_stats one)
# or <style>_guided (the same again, the student ending in a guided filter as cartoon's teacher does), or <style>_stats
# (the shipped whole-picture student, a FastGenerator or a guided ContextGenerator, grown into one told the whole
# picture's statistics: fast_stats or context_guided_stats).
# RUN-TAG (e.g. hayao_stats-warm3) is RUN in a folder of its own: a warm restart from the committed weights with a
# fresh schedule, its teacher targets hard-linked from RUN's folder when that has them (train/README.md, 2c).
# STEPS=N (default 20000) ends the runs at step N. A run started from committed weights counts on from their step,
# and its schedule (warm-up, then cosine down to the floor at N) starts there; a run folder resumed keeps its schedule,
# so a nearer N anneals it (a later, larger N warms it up again).
# LR=x (default 3e-4) is the schedule's peak: a peak of 1e-3 on trained weights cost 10+ points of edit captured for
# thousands of steps (train/README.md).
# FINE_DETAIL=x adds x × the finest band (< 2 px) to the loss (--fine-detail-weight; hayao's whole-picture recipe
# uses 2, train/README.md 2c).
# Each run folder continues from its last checkpoint; on a fresh machine a run starts from the committed fp16 weights
# (weights/checkpoints/<style>.face / .picture / .context.safetensors; a context run else from the shipped
# <style>.safetensors) when they are of an architecture it can start from. Logs: RUNS_DIR/<RUN>.log.
set -euo pipefail
runs=$1 shared=$2
shift 2
cd "$(dirname "$0")/.."
teachers=$shared/teachers
faces=$runs/faces512
# L1 + the detail-band term: the MobileNetV2 perceptual term cost ~2 points of detail captured (train/README.md, 2c);
# crops on the teachers' stride grid: a teacher's strokes move with its grid (train/README.md, 2e)
recipe=(--detail-weight 1.0 --phase-lock)
lr=(--lr "${LR:-3e-4}")
[ -z "${FINE_DETAIL:-}" ] || recipe+=(--fine-detail-weight "$FINE_DETAIL")
shipped_arch() {  # the architecture of the whole-picture student a style ships (its committed checkpoint)
  python -c "import sys; from train.checkpoint import read_meta; print(read_meta(sys.argv[1]).get('arch'))" \
    "weights/checkpoints/$1.safetensors"
}
for run in "$@"; do
  base=${run%%-*}   # hayao_stats-warm3 → hayao_stats
  style=${base%_*} kind=${base##*_}
  case $kind in
    face)
      if [ ! -d "$faces/train" ]; then
        python -m train.align_faces --photos "$shared/photos/faces_hq" "$shared/photos/portraits" \
          "$shared"/photos/faces/celebahq* "$shared"/photos/faces/deepface* --out "$faces"
      fi
      chain=("$teachers/cute.onnx")
      [ "$style" = cute ] || chain+=("$teachers/$style.onnx")
      data=(--teacher "${chain[@]}" --photos "$faces/train" --sizes 512)
      # whole aligned faces, as the face pass runs them, at batch 1 with BatchNorm frozen (train/README.md, 2e)
      arch=(unet) inits=(weights/checkpoints/$style.face.safetensors) batches=(--batch 1 --crop 512 --freeze-bn) ;;
    picture)
      # width 0.875 (0.81 M parameters, ~1.0 MB INT8): with a 1.3 MB face model a style stays under 2.5 MB
      data=(--teacher "$teachers/$style.onnx" --sizes 384,512,640 --width 0.875
            --photos "$shared/photos/scenes" "$shared/photos/faces_hq" "$shared/photos/portraits")
      arch=(unet) inits=(weights/checkpoints/$style.picture.safetensors) batches=(--batch 4 --crop 256) ;;  # not shipped
    context|guided)
      # 384² crops: what hayao's and shinkai's teachers do to a spot depends on the picture around it
      # (python -m train.context_probe), so the student sees more of it in each crop
      data=(--teacher "$teachers/$style.onnx" --sizes 384,512,640
            --photos "$shared/photos/scenes" "$shared/photos/faces_hq" "$shared/photos/portraits")
      if [ "$kind" = guided ]; then
        # ending in the guided filter that ends cartoon's teacher (train/README.md, 2f)
        arch=(context_guided context fast) inits=(weights/checkpoints/$style.safetensors)
      else
        case $(shipped_arch "$style") in
          # a student told the picture (2g) grows the wider view too: context_stats
          fast_stats|context_stats) arch=(context_stats fast_stats) inits=(weights/checkpoints/$style.safetensors) ;;
          *) arch=(context fast)
             inits=(weights/checkpoints/$style.context.safetensors weights/checkpoints/$style.safetensors) ;;
        esac
      fi
      batches=(--batch 2 --crop 384) ;;
    stats)
      # the hayao whole-picture recipe (train/README.md 2d-2e); each crop also gets its whole photo's thumbnail (2g)
      data=(--teacher "$teachers/$style.onnx" --sizes 384,512,640
            --photos "$shared/photos/scenes" "$shared/photos/faces_hq" "$shared/photos/portraits")
      inits=(weights/checkpoints/$style.stats.safetensors weights/checkpoints/$style.safetensors)
      case $(shipped_arch "$style") in
        context_guided*) arch=(context_guided_stats context_guided) batches=(--batch 2 --crop 384) ;;  # cartoon's
        *) arch=(fast_stats fast) batches=(--batch 8 --crop 128) ;;
      esac ;;
    *) echo "unknown run $run: want <style>_face, <style>_picture, <style>_context, <style>_guided or <style>_stats (each with an optional -tag)" >&2
       exit 2 ;;
  esac
  out=$runs/$run
  if [ "$base" != "$run" ] && [ -d "$runs/$base/targets" ] && [ ! -e "$out/targets" ]; then
    mkdir -p "$out" && cp -al "$runs/$base/targets" "$out/"   # the same teacher's targets, made once
  fi
  init=()
  for file in "${inits[@]}"; do
    if [ ! -f "$out/last.safetensors" ] && [ -f "$file" ] && python -c \
        "import sys; from train.checkpoint import read_meta; sys.exit(read_meta(sys.argv[1]).get('arch') not in sys.argv[2:])" \
        "$file" "${arch[@]}"; then
      init=(--init "$file")
      break
    fi
  done
  nohup nice -n 19 python -m train.distill "${data[@]}" --arch "${arch[0]}" --out "$out" --steps "${STEPS:-20000}" "${batches[@]}" \
    --val-size 512 --val-count 16 "${recipe[@]}" "${lr[@]}" --threads 1 --teacher-threads 1 --resume "${init[@]}" \
    > "$runs/$run.log" 2>&1 &
  echo "started $run (pid $!): $out"
done
