#!/usr/bin/env python3
"""Models exported from PyTorch to ONNX, checked against ONNX Runtime.

    sh tools/setup-torch-venv.sh        # tools/.torch-venv: torch, torchvision, onnx, onnxruntime (PyPI)
    tools/.torch-venv/bin/python tools/gen_torch_models.py fixtures   # tests/fixtures/torch_*/ (small, committed)
    tools/.torch-venv/bin/python tools/gen_torch_models.py check      # torchvision nets -> docs/torch-models.md

`fixtures` writes tiny models with random weights (each < 100 KB) whose
references are ONNX Runtime's outputs: the ONNX bytes go to model.pb (Kiln
detects the format by content), inputs and outputs to .npy.  `check`
exports full torchvision classification nets and nn.TransformerEncoder
with random weights (too large to commit), runs each through `kiln run`
and compares with ONNX Runtime.  Seeds are fixed.  Nothing here is used by
the compiler or the tests' runtime.
"""
import io
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
KILN = os.path.join(ROOT, "build", "bin", "kiln")


def export(model, x):
    model.eval()
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    return f.getvalue()


def ort_run(onnx_bytes, x):
    s = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


# ---- tiny models (fixtures) ------------------------------------------------------
class Fire(nn.Module):
    def __init__(self, cin, s, e):
        super().__init__()
        self.sq, self.e1, self.e3 = nn.Conv2d(cin, s, 1), nn.Conv2d(s, e, 1), nn.Conv2d(s, e, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.sq(x))
        return torch.cat([torch.relu(self.e1(x)), torch.relu(self.e3(x))], 1)


def fire_ceil():
    """SqueezeNet-style: stride-2 conv, MaxPool2d(3, 2, ceil_mode=True) where ceil changes the size, Fire modules."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(8, 4, 8),
                         nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (1, 3, 23, 23)


class Inception(nn.Module):
    """GoogLeNet-style block: 1x1, 1x1-3x3, 1x1-5x5 and maxpool(3, 1, 1, ceil_mode)-1x1 branches, BN + ReLU."""

    def __init__(self, cin):
        super().__init__()

        def cbr(i, o, k):
            return nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2, bias=False), nn.BatchNorm2d(o, eps=0.001), nn.ReLU())
        self.b1 = cbr(cin, 4, 1)
        self.b2 = nn.Sequential(cbr(cin, 3, 1), cbr(3, 4, 3))
        self.b3 = nn.Sequential(cbr(cin, 2, 1), cbr(2, 4, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), cbr(cin, 4, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def inception_ceil():
    m = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True), Inception(6),
                      nn.MaxPool2d(3, 2, ceil_mode=True), Inception(16), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    for bn in [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]:  # non-trivial folded scales
        bn.running_mean.uniform_(-0.3, 0.3), bn.running_var.uniform_(0.5, 2.0)
    return m, (1, 3, 28, 28)


class ShiftedWindows(nn.Module):
    """Swin-style: cyclic shift (torch.roll), window partition (reshape/permute), window attention with the
    shifted-window mask built by slice assignment (ScatterND in the export), reverse shift."""

    def __init__(self, c=8, ws=4, shift=2):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.qkv, self.proj, self.norm = nn.Linear(c, 3 * c), nn.Linear(c, c), nn.LayerNorm(c)

    def forward(self, x):  # [B, H, W, C]
        b, h, w, c = x.shape
        ws, s = self.ws, self.shift
        y = torch.roll(self.norm(x), shifts=(-s, -s), dims=(1, 2))
        win = y.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        q, k, v = self.qkv(win).chunk(3, dim=-1)
        attn = q @ k.transpose(-2, -1) * c ** -0.5
        img = torch.zeros_like(x[..., :1])  # [B, H, W, 1]
        cnt = 0
        for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                img[:, hs, wsl, :] = cnt
                cnt += 1
        mw = img.reshape(b, h // ws, ws, w // ws, ws).permute(0, 1, 3, 2, 4).reshape(-1, ws * ws)
        mask = (mw.unsqueeze(1) - mw.unsqueeze(2)) != 0
        attn = torch.softmax(attn.masked_fill(mask, -100.0), dim=-1)
        out = self.proj(attn @ v).reshape(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        return x + torch.roll(out, shifts=(s, s), dims=(1, 2))


def swin_block():
    return ShiftedWindows(), (1, 8, 8, 8)


def transformer_encoder():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True,
                                       activation="gelu")
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False), (2, 5, 16)


FIXTURE_MODELS = [("torch_fire_ceil", fire_ceil, "SqueezeNet-style Fire modules with MaxPool2d(ceil_mode=True)"),
                  ("torch_inception_ceil", inception_ceil, "GoogLeNet-style inception blocks, BN, ceil_mode pools"),
                  ("torch_swin_block", swin_block, "Swin-style shifted-window attention (roll, ScatterND mask)"),
                  ("torch_transformer_encoder", transformer_encoder, "nn.TransformerEncoder, 2 layers, d 16, exact GELU")]


def write_fixtures():
    for i, (name, make, doc) in enumerate(FIXTURE_MODELS):
        torch.manual_seed(10 + i)
        model, shape = make()
        x = np.random.default_rng(20 + i).uniform(-1, 1, shape).astype(np.float32)
        onnx_bytes = export(model, torch.from_numpy(x))
        ref = ort_run(onnx_bytes, x)
        with torch.no_grad():
            gap = float(np.max(np.abs(model(torch.from_numpy(x)).numpy() - ref)))
        d = os.path.join(FIXTURES, name)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "model.pb"), "wb").write(onnx_bytes)
        np.save(os.path.join(d, "in_x.npy"), x)
        np.save(os.path.join(d, "out_y.npy"), ref)
        import onnx
        ops = sorted({n.op_type for n in onnx.load_from_string(onnx_bytes).graph.node})
        with open(os.path.join(d, "fixture.txt"), "w") as f:
            f.write("# %s (ONNX from torch %s, opset 17; reference: ONNX Runtime %s)\n" % (doc, torch.__version__.split("+")[0],
                                                                                          ort.__version__))
            f.write("# onnx ops: %s\nfeed x in_x.npy\nfetch y out_y.npy\ntol 1e-4 1e-5\n" % ", ".join(ops))
        size = sum(os.path.getsize(os.path.join(d, p)) for p in os.listdir(d))
        print("%-28s %7d bytes  torch vs ORT %.2g  %s" % (name, size, gap, doc))


# ---- full torchvision nets (check, not committed) ----------------------------------------
def tv(name, size=64, **kw):
    def make():
        import torchvision
        return getattr(torchvision.models, name)(weights=None, num_classes=10, **kw), (1, 3, size, size)
    return name, make


CHECK_MODELS = [tv("squeezenet1_1", 64), tv("googlenet", 64, aux_logits=False, init_weights=True), tv("resnet18", 64),
                tv("mobilenet_v3_small", 64), tv("efficientnet_b0", 64), tv("convnext_tiny", 64), tv("swin_t", 64),
                tv("vit_b_16", 64, image_size=64), ("nn.TransformerEncoder(d=256, 4 layers)", lambda: (nn.TransformerEncoder(
                    nn.TransformerEncoderLayer(256, 8, 1024, 0.0, batch_first=True), 4, enable_nested_tensor=False), (1, 32, 256)))]


def check():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, make) in enumerate(CHECK_MODELS):
            torch.manual_seed(30 + i)
            model, shape = make()
            with torch.no_grad():  # zero-initialized heads and identity BN statistics make outputs no wrong kernel changes
                for p in model.parameters():
                    if not p.abs().max():
                        p.uniform_(-0.1, 0.1)
                for bn in [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]:
                    bn.running_mean.uniform_(-0.3, 0.3), bn.running_var.uniform_(0.5, 2.0)
            x = np.random.default_rng(40 + i).uniform(-1, 1, shape).astype(np.float32)
            try:
                onnx_bytes = export(model, torch.from_numpy(x))
                ref = ort_run(onnx_bytes, x)
            except Exception as e:  # noqa: BLE001 - report and go on
                rows.append((name, "export error", str(e).splitlines()[0][:100]))
                continue
            path, xin = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "x.npy")
            open(path, "wb").write(onnx_bytes)
            np.save(xin, x)
            t0 = time.time()
            p = subprocess.run([KILN, "run", path, "--feed", "x=" + xin, "--fetch", "y", "--out-dir", tmp],
                               capture_output=True, text=True, timeout=1200)
            secs = time.time() - t0
            if p.returncode:
                bad = sorted(set(re.findall(r"unsupported op (\w+)", p.stderr)))
                rows.append((name, "refused", ", ".join(bad) or p.stderr.strip().splitlines()[0][:160]))
            else:
                got = np.load(os.path.join(tmp, "y.npy"))
                err, scale = float(np.max(np.abs(got - ref))), float(np.max(np.abs(ref))) or 1.0
                ok = np.all(np.abs(got - ref) <= 1e-3 * np.abs(ref) + 1e-4 * scale)
                rows.append((name, "pass" if ok else "wrong",
                             "max abs err %.2g = %.1e of max output %.2g; %.1f s (compile + run)" % (err, err / scale, scale, secs)))
            print("%-40s %-8s %s" % rows[-1], flush=True)
    with open(os.path.join(ROOT, "docs", "torch-models.md"), "w") as f:
        f.write("# Models exported from PyTorch\n\nGenerated by `tools/gen_torch_models.py check` (torch %s, ONNX Runtime %s): "
                "torchvision classification nets and nn.TransformerEncoder with random weights, exported to ONNX "
                "(opset 17; zero-initialized parameters and batch norm statistics randomized), run by `kiln run` and compared with ONNX Runtime (pass: |kiln - ort| <= 1e-3 |ort| + "
                "1e-4 max |ort|). The small ones are fixtures (tests/fixtures/torch_*).\n\n" %
                (torch.__version__.split("+")[0], ort.__version__))
        f.write("| model | kiln | detail |\n|---|---|---|\n")
        for r in rows:
            f.write("| %s | %s | %s |\n" % r)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("fixtures", "check"):
        sys.exit(__doc__)
    write_fixtures() if sys.argv[1] == "fixtures" else check()
