# lmforge — plain Makefile. `make` builds build/lmforge; `make test` runs the
# whole suite (unit + integration, then the sanitizer build's unit tests, then
# the suite again on the other x86 ISA paths); `make bench` the benchmarks;
# `make demo` the default pipeline on real data.
#
# Variables a user may set:
#   ARCH   the target CPU flags (default -march=native: the fastest code for
#          this machine; -march=x86-64-v3 forces the AVX2 path, x86-64-v4 the
#          AVX-512 one, x86-64 the portable C path)
#   B      the build folder (default build; the ISA test builds use build/isa-*)
#   BLAS   openblas (default) or blis
#   BACKEND the kernels' implementation: src/kernels/BACKEND/*.c (default cpu;
#          see "How to add a backend" in README.md)
#   WERROR -Werror in the test and CI builds; empty in a user's plain `make`

CC      ?= gcc
ARCH    ?= -march=native
B       ?= build
WERROR  ?=
# BLAS: openblas (default) or blis (BLAS=blis; build it in its own folder,
# e.g. B=build/blis). Each through pkg-config; without it, Debian's multiarch
# folder for the OpenMP flavour (the one whose threads are OpenMP's, like ours).
BLAS    ?= openblas
BACKEND ?= cpu
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
# -isystem: BLIS's cblas.h defines static inline helpers it does not use
ifeq ($(BLAS),blis)
BLAS_CFLAGS := -DLMF_BLAS_BLIS $(shell pkg-config --cflags blis 2>/dev/null || echo -isystem /usr/include/$(MULTIARCH)/blis-openmp)
BLAS_LIBDIR := $(shell pkg-config --variable=libdir blis 2>/dev/null || echo /usr/lib/$(MULTIARCH)/blis-openmp)
BLAS_LIB    := -lblis
else
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/$(MULTIARCH)/openblas-openmp)
BLAS_LIBDIR := $(shell pkg-config --variable=libdir openblas 2>/dev/null || echo /usr/lib/$(MULTIARCH)/openblas-openmp)
BLAS_LIB    := -lopenblas
endif
# -fno-trapping-math: nothing here reads floating-point exception flags, and
# without it gcc will not vectorise a clamp or a select (as in fast_expf) for
# AVX2, which has no masked instructions; values are unchanged either way.
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -fopenmp $(ARCH) -fno-math-errno -fno-trapping-math \
                $(BLAS_CFLAGS) -MMD -MP
CFLAGS  ?= -O3 -g
# libedit: the line editor of `lmforge chat` on a terminal (BSD-licensed).
EDIT_LIBS := $(shell pkg-config --libs libedit 2>/dev/null || echo -ledit)
# libmicrohttpd: the web server of `lmforge label` (LGPL, Debian's libmicrohttpd-dev).
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
LDLIBS   = -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) $(BLAS_LIB) -lpcre2-8 -lcjson $(EDIT_LIBS) $(MHD_LIBS) -lm
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The library every stage links, and the demo's own link unit beside it
# (src/demo: its data, gold judges and report; only the binary and the tests
# link it, and nothing in the library may include it). The kernels come from
# one backend's folder, src/kernels/$(BACKEND), behind src/kernels/kernels.h.
BACKEND_SRC = $(wildcard src/kernels/$(BACKEND)/*.c)
ifeq ($(BACKEND_SRC),)
$(error BACKEND=$(BACKEND): no src/kernels/$(BACKEND)/*.c)
endif
LIB_SRC  = $(filter-out src/lmforge.c src/demo/%,$(wildcard src/*.c src/*/*.c)) $(BACKEND_SRC)
DEMO_SRC = $(wildcard src/demo/*.c)
TEST_SRC = $(wildcard tests/*.c)
BENCH_SRC = $(wildcard bench/*.c)

OBJ       = $(LIB_SRC:%.c=$(B)/obj/%.o)
DEMO_LIB  = $(B)/libdemo.a
TEST_OBJ  = $(TEST_SRC:%.c=$(B)/obj/%.o)
# arm64's gcc 12 crashes (an internal compiler error) vectorising the tests'
# fmax reductions over converted floats at -O3; the tests need no vectors.
$(TEST_OBJ): CFLAGS_COMMON += $(if $(findstring aarch64,$(shell $(CC) -dumpmachine 2>/dev/null)),-fno-tree-vectorize)
SAN_OBJ   = $(LIB_SRC:%.c=$(B)/asan/%.o) $(DEMO_SRC:%.c=$(B)/asan/%.o) $(TEST_SRC:%.c=$(B)/asan/%.o)

.PHONY: all mpi objects test test-isa check-arm64 unit-test asan-test bench demo deps clean
all: $(B)/lmforge

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $<"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c $< -o $@

$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (asan)"
	@$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -c $< -o $@

# Every object, linked into nothing: what scripts/check_arm64.sh compiles with
# a cross compiler to show that the portable C paths build for arm64.
objects: $(B)/obj/src/lmforge.o $(OBJ) $(DEMO_SRC:%.c=$(B)/obj/%.o) $(TEST_OBJ) $(BENCH_SRC:%.c=$(B)/obj/%.o)

$(DEMO_LIB): $(DEMO_SRC:%.c=$(B)/obj/%.o)
	@echo "AR   $@"
	@rm -f $@ && ar rcs $@ $^

$(B)/lmforge: $(B)/obj/src/lmforge.o $(DEMO_LIB) $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(B)/tests: $(TEST_OBJ) $(DEMO_LIB) $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(B)/tests-asan: $(SAN_OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) $^ -o $@ $(LDLIBS)

$(B)/bench: $(BENCH_SRC:%.c=$(B)/obj/%.o) $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The MPI build (`make mpi`): the same objects, except dist.c, which is
# compiled against Open MPI. The plain build never sees an MPI header.
MPICC ?= mpicc
# Asked in the recipes, after deps.sh may have installed it.
IF_MPICC = $$(command -v $(MPICC) >/dev/null && echo $(MPI_TARGETS))
MPI_OBJ = $(filter-out $(B)/obj/src/base/dist.o,$(OBJ)) $(B)/mpi/src/base/dist.o
MPI_TARGETS = $(B)/lmforge-mpi $(B)/mpi-dist-checks $(B)/mpi-allreduce-bench

$(B)/mpi/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (mpi)"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) -DLMF_MPI -c $< -o $@

$(B)/lmforge-mpi: $(B)/obj/src/lmforge.o $(DEMO_LIB) $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Programs that tests/test_mpi.c and bench/bench_mpi.c start under mpirun.
$(B)/mpi-dist-checks: $(B)/mpi/tests/mpi/dist_checks.o $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(B)/mpi-allreduce-bench: $(B)/mpi/bench/mpi/allreduce_bench.o $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

mpi: $(MPI_TARGETS)

deps:
	@sh scripts/deps.sh

# The full suite: every test on the optimised build, then the unit tests
# (LMF_TEST_FAST leaves the slow end-to-end ones out) under ASan + UBSan,
# then every test again on the x86 ISA paths this build did not take
# (scripts/test_isa.sh). Warnings are errors here, not in a plain `make`.
TEST_ENV = OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2
test: deps
	@sh scripts/check_layers.sh
	@$(MAKE) --no-print-directory WERROR=-Werror $(B)/lmforge $(B)/tests $(B)/tests-asan $(IF_MPICC)
	$(TEST_ENV) LMFORGE=$(B)/lmforge LMFORGE_MPI=$(B)/lmforge-mpi ./$(B)/tests
	ASAN_OPTIONS=detect_leaks=0 LMF_TEST_FAST=1 $(TEST_ENV) LMFORGE=$(B)/lmforge ./$(B)/tests-asan
	@sh scripts/test_isa.sh
	@sh scripts/check_arm64.sh

# One ISA build's whole suite: make test-isa ISA=avx2|avx512|x86-64.
test-isa:
	@sh scripts/test_isa.sh $(ISA)

check-arm64:
	@sh scripts/check_arm64.sh

unit-test: $(B)/lmforge $(B)/tests
	$(TEST_ENV) LMFORGE=$(B)/lmforge ./$(B)/tests $(T)

bench: deps $(B)/lmforge $(B)/bench
	@$(MAKE) --no-print-directory $(B)/lmforge $(IF_MPICC)
	OMP_NUM_THREADS=2 ./$(B)/bench

# make demo SIZE=large: the bigger variant of the recipe (recipes/demo.recipe, size=)
SIZE ?= small
demo: deps $(B)/lmforge
	sh scripts/demo_pipeline.sh --set size=$(SIZE)

clean:
	rm -rf build

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Fuzzing (`make fuzz`, clang's libFuzzer; tests/fuzz/fuzz.c): one binary per
# parser, each run for FUZZ_SECONDS from the seeds in tests/fuzz/corpus/NAME;
# what it finds goes to build/fuzz/corpus-NAME; a crash fails, its input
# saved as build/fuzz/NAME-crash-*. Fork mode (-fork=1) restarts the process
# when the memory that refused inputs leave behind (die() jumps out of the
# parser) runs out, instead of reporting that as a finding.
FUZZ_TARGETS = jsonl json safetensors recipe
FUZZ_SECONDS ?= 20
FUZZ_ID_jsonl = 1
FUZZ_ID_json = 2
FUZZ_ID_safetensors = 3
FUZZ_ID_recipe = 4
FUZZ_SAN = -fopenmp -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -Wno-pass-failed $(BLAS_CFLAGS) -MMD -MP $(FUZZ_SAN)
.PRECIOUS: $(B)/fuzz/obj/%.o
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (fuzz)"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
# Static pattern rules: a plain one would also match the .d files that make
# tries to remake (through the built-in %: %.o).
$(FUZZ_TARGETS:%=$(B)/fuzz/target-%.o): $(B)/fuzz/target-%.o: tests/fuzz/fuzz.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (fuzz $*)"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -DFUZZ_TARGET=$(FUZZ_ID_$*) -c $< -o $@
$(FUZZ_TARGETS:%=$(B)/fuzz/fuzz-%): $(B)/fuzz/fuzz-%: $(B)/fuzz/target-%.o $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
	@echo "LINK $@"
	@clang $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)
fuzz: $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz-%)
	@for t in $(FUZZ_TARGETS); do mkdir -p $(B)/fuzz/corpus-$$t; echo "fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ./$(B)/fuzz/fuzz-$$t -fork=1 -ignore_ooms=1 \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 -close_fd_mask=2 \
	    -artifact_prefix=$(B)/fuzz/$$t- $(B)/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | tail -2; \
	  if ls $(B)/fuzz/$$t-crash-* $(B)/fuzz/$$t-timeout-* 2>/dev/null | grep .; then \
	    echo "fuzz $$t: crash inputs above (a regression test, a fix, then delete them)"; exit 1; fi; done
.PHONY: fuzz
