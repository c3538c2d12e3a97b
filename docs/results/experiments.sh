#!/usr/bin/env bash
# The exact commands behind docs/results/ (run from the repository root, with ../shared present).
# Each writes its own folder; rerunning a command resumes it (finished rows are kept).
set -euo pipefail
T="node --import tsx src/cli/run.ts"
M=../shared/models/mlperf_tiny
D=../shared/data
KWS_DATA="speech-commands:$D/speech_commands_v2_test?noiseDir=$D/speech_commands_background_noise"
VWW_DATA="eembc-vww:$D/eembc_vww01"
KWS="$M/kws_ref_model_float32.tflite"
VWW="$M/vww_96_float.tflite"

case "${1:-all}" in
sweeps | all)
  # Every cut point, aux and dense heads, frozen tail, the paper's schedules.
  $T sweep --model "$KWS" --data "$KWS_DATA" --heads aux,dense --out docs/results/kws-sweep
  $T sweep --model "$VWW" --data "$VWW_DATA" --heads aux,dense --out docs/results/vww-sweep
  ;;&
variants | all)
  # KWS block 2 and VWW block 5 (the paper's cuts): beyond the paper's recipe.
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux,dense --epochs 41 --out docs/results/kws-block2-paper-steps
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux,dense --views 4 --epochs 8 --out docs/results/kws-block2-paper-steps-augmented
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux,dense --epoch-scale 10 --out docs/results/kws-block2-long
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux --distill --views 4 --epoch-scale 2 --out docs/results/kws-block2-distill
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux --distill --views 4 --epoch-scale 6 --out docs/results/kws-block2-distill-long
  $T sweep --model "$KWS" --data "$KWS_DATA" --cuts block2 --heads aux --finetune --out docs/results/kws-block2-finetune
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5,block6 --heads aux,dense --epoch-scale 4 --out docs/results/vww-block5-long
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5 --heads aux --distill --views 8 --epoch-scale 2 --out docs/results/vww-block5-distill
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5 --heads aux --distill --views 16 --epoch-scale 2 --out docs/results/vww-block5-distill16
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5 --heads aux --distill --temperature 2 --views 8 --epoch-scale 2 --out docs/results/vww-block5-distill-t2
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5 --heads aux --distill --alpha 0.1 --views 8 --epoch-scale 2 --out docs/results/vww-block5-distill-a01
  $T sweep --model "$VWW" --data "$VWW_DATA" --cuts block5 --heads aux --finetune --distill --views 2 --out docs/results/vww-block5-finetune
  ;;&
runs | all)
  # The whole pipeline (quantise, deploy on the emulated RP2040, report) at the paper's cuts,
  # with the best training variant found above.
  $T run --model "$KWS" --data "$KWS_DATA" --cut block2 --heads aux --distill --views 4 --epoch-scale 6 --deploy-inputs 100 --out docs/results/kws-run
  $T run --model "$VWW" --data "$VWW_DATA" --cut block5 --heads aux --distill --views 8 --epoch-scale 2 --deploy-inputs 100 --out docs/results/vww-run
  ;;
esac
