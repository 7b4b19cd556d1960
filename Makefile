# Thin wrapper so that `make`, `make test` and `make sample` work from the top.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all test sample conformance onnx-report bench clean
all: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

sample: all
	sh samples/mlp/run.sh $(BUILD)
	sh samples/train_mlp/run.sh $(BUILD)

# Regenerates the large models (ResNet50, full MobileNetV2; needs PyPI for the
# TensorFlow venv), runs every fixture through the JIT and every model through
# the AOT path, and rewrites docs/ops.md.  Not part of `make test`.
LARGE = $(BUILD)/large-fixtures
conformance: all
	sh tools/setup-venv.sh
	tools/.venv/bin/python tools/gen_models.py --large --out $(LARGE)
	$(BUILD)/bin/kiln_conformance --tsv $(BUILD)/conformance.tsv tests/fixtures $(LARGE) | tee $(BUILD)/conformance.txt
	sh tests/sh/aot_models.sh $(CURDIR) $(BUILD) "$(CURDIR)/tests/fixtures/model_* $(LARGE)/model_*"
	tools/.venv/bin/python tools/gen_ops_doc.py $(BUILD)/conformance.tsv tests/fixtures $(LARGE) > docs/ops.md
	@tail -n 1 $(BUILD)/conformance.txt

# Reruns the ONNX backend suite and rewrites docs/onnx-conformance.md.
onnx-report: all
	$(BUILD)/tests/onnx_suite /usr/include/onnx/backend/test/data --md docs/onnx-conformance.md --jobs $(JOBS)

# Kiln vs TensorFlow, XLA, ONNX Runtime and IREE (needs PyPI for its venv; not
# part of `make test`).  The large models come from `make conformance`'s
# generator and tools/gen_bench_models.py (issue 15's proof set).
bench: all
	sh tools/setup-venv.sh tools/.bench-venv bench/requirements.txt
	sh tools/setup-venv.sh
	test -f $(LARGE)/model_resnet50/fixture.txt || tools/.venv/bin/python tools/gen_models.py --large --out $(LARGE)
	test -f $(LARGE)/model_lenet_b64/fixture.txt || tools/.venv/bin/python tools/gen_models.py --lenet64 --out $(LARGE)
	test -f $(LARGE)/model_textcnn_b8/fixture.txt || tools/.venv/bin/python tools/gen_bench_models.py --out $(LARGE)
	tools/.bench-venv/bin/python bench/run.py --build $(BUILD)
	tools/.bench-venv/bin/python bench/train.py --build $(BUILD)
	test -f $(LARGE)/model_transformer_dyn/fixture.txt || tools/.venv/bin/python tools/gen_models.py --dist-bench --out $(LARGE)
	tools/.bench-venv/bin/python bench/dist.py --build $(BUILD)

clean:
	rm -rf $(BUILD)
