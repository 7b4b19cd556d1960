# Thin wrapper so that `make`, `make test` and `make sample` work from the top.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all test sample clean asan
all: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

sample: all
	sh samples/mlp/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
