"""PyTorch anchor for bench/train.ts: trains the same layers (same shapes, random values) in
PyTorch eager mode, NCHW and channels_last, and prints the median examples/s per case as JSON
lines. Benchmark only: never part of the product or the tests.

Input: a JSON file written by bench/train.ts, {"cases": [{"name", "spec", "batch", "steps",
"warmup", "threads": [...], "layouts": [...]}]}, where spec is the model description the
libtorch addon builds from (src/engine/torch.ts, ModelSpec) without weight values.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def _same(pads):
    top, bottom, left, right = pads
    return top == bottom and left == right


class SpecModel(torch.nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        usage = {}
        for op in spec["ops"]:
            if op["kind"] in ("conv2d", "depthwiseConv2d") and len(op["inputs"]) > 1:
                usage[op["inputs"][1]] = op["kind"]
        self.tensors = {}
        g = torch.Generator().manual_seed(0)
        for i, p in enumerate(spec["params"]):
            shape = p["shape"]
            kind = usage.get(p["slot"])
            if kind == "conv2d":  # [O,kh,kw,I] -> [O,I,kh,kw]
                shape = [shape[0], shape[3], shape[1], shape[2]]
            elif kind == "depthwiseConv2d":  # [1,kh,kw,C*M] -> [C*M,1,kh,kw]
                shape = [shape[3], 1, shape[1], shape[2]]
            t = torch.randn(shape, generator=g) * 0.1
            if "variance" in p["name"] or "gamma" in p["name"]:
                t = t.abs() + 0.5
            name = f"p{i}"
            if p["trainable"]:
                self.register_parameter(name, torch.nn.Parameter(t))
            else:
                self.register_buffer(name, t)
            self.tensors[p["slot"]] = name
        # The loss reads the softmax input, as tinyprune does.
        self.ops = spec["ops"][:-1] if spec["ops"][-1]["kind"] == "softmax" else spec["ops"]

    def forward(self, x):
        v = {s: getattr(self, n) for s, n in self.tensors.items()}
        v[self.spec["input"]] = x
        out = x
        for op in self.ops:
            a = v[op["inputs"][0]]
            k = op["kind"]
            act = op.get("act") or "none"
            if k in ("conv2d", "depthwiseConv2d"):
                w = v[op["inputs"][1]]
                b = v[op["inputs"][2]] if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else None
                pads = op["pads"]
                pad = (pads[0], pads[2])
                if not _same(pads):
                    a = F.pad(a, (pads[2], pads[3], pads[0], pads[1]))
                    pad = (0, 0)
                groups = a.shape[1] if k == "depthwiseConv2d" else 1
                y = F.conv2d(a, w, b, op["strides"], pad, op["dilations"], groups)
            elif k == "fullyConnected":
                w = v[op["inputs"][1]]
                b = v[op["inputs"][2]] if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else None
                y = F.linear(a.reshape(-1, w.shape[1]), w, b)
            elif k in ("averagePool2d", "maxPool2d"):
                if op.get("global"):
                    y = a.mean((2, 3), keepdim=True)
                else:
                    pads = op["pads"]
                    if not _same(pads):
                        a = F.pad(a, (pads[2], pads[3], pads[0], pads[1]))
                        pads = [0, 0, 0, 0]
                    f = F.avg_pool2d if k == "averagePool2d" else F.max_pool2d
                    y = f(a, op["pool"], op["strides"], (pads[0], pads[2]))
            elif k == "mean":
                axes = [{0: 0, 1: 2, 2: 3, 3: 1}[d] for d in op["axes"]] if a.dim() == 4 else op["axes"]
                y = a.mean(axes, keepdim=op.get("keepDims", False))
            elif k == "reshape":
                y = a.reshape(a.shape[0], -1) if len(op["shape"]) == 1 else a
            elif k == "softmax":
                y = torch.softmax(a, 1)
            elif k == "add":
                y = a + v[op["inputs"][1]]
            elif k == "pad":
                y = F.pad(a, op["padList"])  # same rank order is good enough for timing
            elif k == "relu":
                y = F.relu(a)
            elif k == "relu6":
                y = F.relu6(a)
            elif k == "batchNorm":
                i = op["inputs"]
                y = F.batch_norm(a, v[i[3]], v[i[4]], v[i[1]], v[i[2]],
                                 self.training and op.get("bnTraining", False),
                                 op.get("momentum", 0.01), op.get("eps", 1e-3))
            else:
                raise ValueError(f"anchor: unsupported op {k}")
            if act == "relu":
                y = F.relu(y)
            elif act == "relu6":
                y = F.relu6(y)
            v[op["output"]] = y
            out = y
        return out


def measure(case, threads, layout):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = case["spec"]
    model = SpecModel(spec)
    shape = spec["inputShape"]
    b = case["batch"]
    steps = case["steps"] + case["warmup"]
    # NHWC shapes from the spec; PyTorch's layout is NCHW.
    nchw = [shape[2], shape[0], shape[1]] if len(shape) == 3 else shape
    x = torch.randn([b * steps] + nchw)
    y = torch.randint(0, spec["classes"], (b * steps,))
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    times = []
    for s in range(steps):
        xb = x[s * b:(s + 1) * b]
        yb = y[s * b:(s + 1) * b]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(xb).reshape(b, -1)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        if s >= case["warmup"]:
            times.append(time.perf_counter() - t0)
    return b / statistics.median(times)


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    for case in job["cases"]:
        for threads in case["threads"]:
            for layout in case["layouts"]:
                ex = measure(case, threads, layout)
                print(json.dumps({"name": case["name"], "threads": threads, "layout": layout,
                                  "examplesPerSecond": ex}), flush=True)


if __name__ == "__main__":
    main()
