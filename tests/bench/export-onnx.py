"""The Wav2Lip generator as ONNX, for the benchmark page's side-by-side run
with ONNX Runtime Web (issue 8). A developer's tool, not part of the app.

    wav2lip convert formula7.pth -o formula7.safetensors
    python3 tests/bench/export-onnx.py formula7.safetensors -o formula7.onnx \
        [--check MEL.npy FACE.npy OUT.npy]

Written from WAV2LIP.md's tables with the `onnx` package (no torch): each
block is Conv/ConvTranspose + BatchNormalization (+ Add) + Relu, as
torch.onnx.export writes an eval-mode model; ONNX Runtime fuses what it can
when it loads the file. `--check` runs the file with onnxruntime (CPU) and
prints the largest difference from the authors' output.
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

FACE_ENCODER = [
    [("c", 6, 16, 7, 1, 3)],
    [("c", 16, 32, 3, 2, 1), ("r", 32), ("r", 32)],
    [("c", 32, 64, 3, 2, 1), ("r", 64), ("r", 64), ("r", 64)],
    [("c", 64, 128, 3, 2, 1), ("r", 128), ("r", 128)],
    [("c", 128, 256, 3, 2, 1), ("r", 256), ("r", 256)],
    [("c", 256, 512, 3, 2, 1), ("r", 512)],
    [("c", 512, 512, 3, 1, 0), ("c", 512, 512, 1, 1, 0)],
]
AUDIO_ENCODER = [
    ("c", 1, 32, 3, 1, 1), ("r", 32), ("r", 32),
    ("c", 32, 64, 3, (3, 1), 1), ("r", 64), ("r", 64),
    ("c", 64, 128, 3, 3, 1), ("r", 128), ("r", 128),
    ("c", 128, 256, 3, (3, 2), 1), ("r", 256),
    ("c", 256, 512, 3, 1, 0), ("c", 512, 512, 1, 1, 0),
]
FACE_DECODER = [
    [("c", 512, 512, 1, 1, 0)],
    [("t", 1024, 512, 1, 0, 0), ("r", 512)],
    [("t", 1024, 512, 2, 1, 1), ("r", 512), ("r", 512)],
    [("t", 768, 384, 2, 1, 1), ("r", 384), ("r", 384)],
    [("t", 512, 256, 2, 1, 1), ("r", 256), ("r", 256)],
    [("t", 320, 128, 2, 1, 1), ("r", 128), ("r", 128)],
    [("t", 160, 64, 2, 1, 1), ("r", 64), ("r", 64)],
]


class Graph:
    def __init__(self, weights):
        self.weights, self.nodes, self.inits, self.count = weights, [], [], 0

    def name(self, kind):
        self.count += 1
        return f"{kind}_{self.count}"

    def init(self, key):
        self.inits.append(numpy_helper.from_array(self.weights[key].astype(np.float32), key))
        return key

    def node(self, op, inputs, **attrs):
        out = self.name(op)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def block(self, x, prefix, spec):
        kind = spec[0]
        conv, bn = f"{prefix}.conv_block.0", f"{prefix}.conv_block.1"
        w, b = self.init(f"{conv}.weight"), self.init(f"{conv}.bias")
        if kind == "t":
            _, _, _, s, p, op = spec
            y = self.node("ConvTranspose", [x, w, b], kernel_shape=[3, 3], strides=[s, s], pads=[p] * 4, output_padding=[op, op])
        else:
            k, s, p = (3, 1, 1) if kind == "r" else spec[3:]
            s = s if isinstance(s, tuple) else (s, s)
            y = self.node("Conv", [x, w, b], kernel_shape=[k, k], strides=list(s), pads=[p] * 4)
        y = self.node("BatchNormalization", [y] + [self.init(f"{bn}.{n}") for n in ("weight", "bias", "running_mean", "running_var")], epsilon=1e-5)
        if kind == "r":
            y = self.node("Add", [y, x])
        return self.node("Relu", [y])


def export(weights):
    g = Graph(weights)
    x = "mel"
    for i, spec in enumerate(AUDIO_ENCODER):
        x = g.block(x, f"audio_encoder.{i}", spec)
    audio, skips, x = x, [], "face"
    for s, stage in enumerate(FACE_ENCODER):
        for b, spec in enumerate(stage):
            x = g.block(x, f"face_encoder_blocks.{s}.{b}", spec)
        skips.append(x)
    x = audio
    for s, stage in enumerate(FACE_DECODER):
        for b, spec in enumerate(stage):
            x = g.block(x, f"face_decoder_blocks.{s}.{b}", spec)
        x = g.node("Concat", [x, skips.pop()], axis=1)
    x = g.block(x, "output_block.0", ("c", 80, 32, 3, 1, 1))
    x = g.node("Conv", [x, g.init("output_block.1.weight"), g.init("output_block.1.bias")], kernel_shape=[1, 1])
    g.nodes.append(helper.make_node("Sigmoid", [x], ["output"]))
    batch = "batch"
    graph = helper.make_graph(
        g.nodes, "wav2lip",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [batch, 1, 80, 16]),
         helper.make_tensor_value_info("face", TensorProto.FLOAT, [batch, 6, 96, 96])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, 96, 96])],
        g.inits)
    # IR version 8 (what opset 17 came with), not the writing onnx package's
    # newest: ONNX Runtime refuses IR versions newer than it knows.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="wav2lip-studio", ir_version=8)
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("safetensors")
    parser.add_argument("-o", required=True)
    parser.add_argument("--check", nargs=3, metavar=("MEL", "FACE", "OUT"))
    args = parser.parse_args()
    model = export(load_file(args.safetensors))
    onnx.save(model, args.o)
    print(f"wrote {args.o}: {len(model.graph.node)} nodes")
    if args.check:
        import onnxruntime as ort
        mel, face, expected = (np.load(p) for p in args.check)
        got = ort.InferenceSession(args.o).run(None, {"mel": mel, "face": face})[0]
        print(f"onnxruntime vs the authors' output: max abs error {np.abs(got - expected).max():.3e}")


if __name__ == "__main__":
    main()
