"""The Wav2Lip generator in PyTorch, timed: the reference point for
`wav2lip bench --device gpu` on the same machine (issue 8). A developer's
tool, not part of the app.

    python3 tests/bench/torch-generator.py [--device cuda] [--batches 1,8,32] [--runs 20]

The network is the authors' (models/wav2lip.py: Conv2d/ConvTranspose2d +
BatchNorm2d (+ the input) + ReLU blocks, the decoder concatenating the
encoder's skips), built from the tables in export-onnx.py beside this file,
with random weights (speed does not depend on them), in eval mode. Prints
ms/frame per batch in fp32 with TF32 off (the fp32 peak is the yardstick),
then with TF32 and with fp16 autocast, and the multiply-add rate reached
(3.97 G multiply-adds a frame).
"""

import argparse
import importlib.util
import pathlib
import time

import torch
from torch import nn

MACS_PER_FRAME = 3.97e9

spec = importlib.util.spec_from_file_location("tables", pathlib.Path(__file__).with_name("export-onnx.py"))
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)


class Block(nn.Module):
    def __init__(self, spec):
        super().__init__()
        kind = spec[0]
        if kind == "r":
            c = spec[1]
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            cout = c
        elif kind == "t":
            _, cin, cout, s, p, op = spec
            self.conv = nn.ConvTranspose2d(cin, cout, 3, s, p, op)
        else:
            _, cin, cout, k, s, p = spec
            self.conv = nn.Conv2d(cin, cout, k, s, p)
        self.bn = nn.BatchNorm2d(cout)
        self.residual = kind == "r"

    def forward(self, x):
        y = self.bn(self.conv(x))
        return torch.relu(y + x if self.residual else y)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio = nn.Sequential(*[Block(s) for s in tables.AUDIO_ENCODER])
        self.encoder = nn.ModuleList(nn.Sequential(*[Block(s) for s in stage]) for stage in tables.FACE_ENCODER)
        self.decoder = nn.ModuleList(nn.Sequential(*[Block(s) for s in stage]) for stage in tables.FACE_DECODER)
        self.output = nn.Sequential(Block(("c", 80, 32, 3, 1, 1)), nn.Conv2d(32, 3, 1), nn.Sigmoid())

    def forward(self, mel, face):
        x = self.audio(mel)
        skips, y = [], face
        for stage in self.encoder:
            y = stage(y)
            skips.append(y)
        for stage in self.decoder:
            x = torch.cat([stage(x), skips.pop()], dim=1)
        return self.output(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    net = Generator().eval().to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"PyTorch {torch.__version__} on {name}")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for mode in ("fp32", "tf32", "fp16 autocast") if device.type == "cuda" else ("fp32",):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        for batch in (int(b) for b in args.batches.split(",")):
            mel = torch.rand(batch, 1, 80, 16, device=device)
            face = torch.rand(batch, 6, 96, 96, device=device)
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=mode == "fp16 autocast"):
                for _ in range(3):
                    net(mel, face)
                sync()
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    net(mel, face)
                    sync()
                    times.append(time.perf_counter() - start)
            ms = sorted(times)[len(times) // 2] * 1e3 / batch
            print(f"  {mode:>13} batch {batch:3}: {ms:8.3f} ms/frame (median of {args.runs}), "
                  f"{MACS_PER_FRAME * 2 / (ms / 1e3) / 1e12:6.2f} TFLOP/s")


if __name__ == "__main__":
    main()
