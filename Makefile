# lmforge — plain Makefile. `make` builds build/lmforge; `make test` runs the
# whole suite (unit + integration, then the sanitizer build's unit tests);
# `make bench` the benchmarks; `make demo` the default pipeline on real data.

CC      ?= gcc
BLAS_INC = /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB = /usr/lib/x86_64-linux-gnu/openblas-openmp
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -march=native -fno-math-errno -I$(BLAS_INC) -MMD -MP
CFLAGS  ?= -O3 -g
LDLIBS   = -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lpcre2-8 -lcjson -lm
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  = $(filter-out src/lmforge.c,$(wildcard src/*.c src/*/*.c))
TEST_SRC = $(wildcard tests/*.c)
BENCH_SRC = $(wildcard bench/*.c)

OBJ       = $(LIB_SRC:%.c=build/obj/%.o)
TEST_OBJ  = $(TEST_SRC:%.c=build/obj/%.o)
SAN_OBJ   = $(LIB_SRC:%.c=build/asan/%.o) $(TEST_SRC:%.c=build/asan/%.o)

.PHONY: all mpi test unit-test asan-test bench demo deps clean
all: build/lmforge

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $<"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (asan)"
	@$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -c $< -o $@

build/lmforge: build/obj/src/lmforge.o $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

build/tests: $(TEST_OBJ) $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

build/tests-asan: $(SAN_OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) $^ -o $@ $(LDLIBS)

build/bench: $(BENCH_SRC:%.c=build/obj/%.o) $(OBJ)
	@echo "LINK $@"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The MPI build (`make mpi`): the same objects, except dist.c, which is
# compiled against Open MPI. The plain build never sees an MPI header.
MPICC ?= mpicc
# Asked in the recipes, after deps.sh may have installed it.
IF_MPICC = $$(command -v $(MPICC) >/dev/null && echo $(MPI_TARGETS))
MPI_OBJ = $(filter-out build/obj/src/base/dist.o,$(OBJ)) build/mpi/src/base/dist.o
MPI_TARGETS = build/lmforge-mpi build/mpi-dist-checks build/mpi-allreduce-bench

build/mpi/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC   $< (mpi)"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) -DLMF_MPI -c $< -o $@

build/lmforge-mpi: build/obj/src/lmforge.o $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Programs that tests/test_mpi.c and bench/bench_mpi.c start under mpirun.
build/mpi-dist-checks: build/mpi/tests/mpi/dist_checks.o $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

build/mpi-allreduce-bench: build/mpi/bench/mpi/allreduce_bench.o $(MPI_OBJ)
	@echo "LINK $@"
	@$(MPICC) $(CFLAGS_COMMON) $(CFLAGS) $^ -o $@ $(LDLIBS)

mpi: $(MPI_TARGETS)

deps:
	@sh scripts/deps.sh

# The full suite: every test on the optimised build, then the unit tests
# (LMF_TEST_FAST leaves the slow end-to-end ones out) under ASan + UBSan.
# The MPI tests run when mpicc is installed (scripts/deps.sh installs it).
test: deps
	@$(MAKE) --no-print-directory build/lmforge build/tests build/tests-asan $(IF_MPICC)
	OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 ./build/tests
	ASAN_OPTIONS=detect_leaks=0 LMF_TEST_FAST=1 OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 LMFORGE=build/lmforge ./build/tests-asan

unit-test: build/lmforge build/tests
	OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 ./build/tests $(T)

bench: deps build/lmforge build/bench
	@$(MAKE) --no-print-directory build/lmforge $(IF_MPICC)
	OMP_NUM_THREADS=2 ./build/bench

demo: deps build/lmforge
	sh scripts/demo_pipeline.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
