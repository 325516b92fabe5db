# virtsim: `make run` and `make test` are all a new user needs.
GO     ?= go
BIN    := bin/virtsim
# The commit results.json names in its provenance (experiments.BuildCommit).
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo +dirty)
LDFLAGS := -X virtsim/experiments.BuildCommit=$(COMMIT)
# Packages with goroutines or no cgo hot paths also run under the race detector.
RACE_PKGS := ./vmm/x86 ./shadow ./guest ./trap ./tui ./experiments ./hwassist ./vmstate

.PHONY: all deps build run test vet images bench bench-all clean fuzz difftest stress test-kvm-nested

all: build

deps:
	@./scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/virtsim

# The main job: every workload under every available strategy, a table of exits.
run: build
	./$(BIN) table

test: deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race $(RACE_PKGS)
	$(MAKE) --no-print-directory fuzz

# Every fuzz target for a fixed number of inputs, from its committed seed
# corpus (testdata/fuzz) and the seeds in the code. A count, not a time:
# with a short -fuzztime duration Go's fuzzer can end an input in flight at
# the deadline and fail with "context deadline exceeded" (seen in CI), and a
# count keeps the work the same on a fast or a loaded machine.
# FUZZTIME=1m (or any -fuzztime value) for a real run of every target.
FUZZ := ./guest:FuzzLoad:2000x ./trap:FuzzEmulate:5000x ./hypercall:FuzzHypercall:1000x ./vmm:FuzzParseGolden:2000x ./difftest:FuzzTranslate:300x
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$${rest#*:}; \
	  ft=$${FUZZTIME:-$$n}; echo "fuzz $$pkg $$fn ($$ft)"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$ft -parallel 1 || exit 1; done

# Rebuild the committed guest images from guest/src (needs GNU as/ld).
images:
	./guest/src/build.sh

# The performance goals (issue 16), each a side-by-side ratio printed with
# its goal in the metric's name and its spread (-min, -max) over BENCHN
# rounds (the median is the plain metric; benchstat reads every one).
# vmm/unicorn/BENCH.md records what they gave and what each figure is.
# PrivRoundTrip has no goal: the substrate's own ring-3 -> ring-0 -> ring-3
# round trip (lcall/lret), the floor under SyscallRoundTrip's goal.
BENCHN ?= 5
BENCH_GOALS := ./trap:TrapRoundTrip ./hypercall:HypercallRoundTrip ./vmm:SyscallRoundTrip ./vmm/unicorn:PrivRoundTrip \
	./translate:Throughput ./cmd/virtsim:Startup ./cmd/virtsim:BenchMatrix
bench: deps
	@for t in $(BENCH_GOALS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  $(GO) test $$pkg -run '^$$' -bench "^Benchmark$$fn\$$" -benchtime $(BENCHN)x || exit 1; done

# Every benchmark of every package (microbenchmarks included), briefly.
bench-all: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# The kvm strategy on a real /dev/kvm where the host has none: KVM's AMD-V
# code (kvm_amd) inside a Linux guest of QEMU's TCG, which emulates SVM
# with nested paging (scripts/kvm-nested.sh; README "KVM without /dev/kvm").
# Not part of make test: it boots a kernel under full emulation (~20 s)
# and runs hwassist's tests and every workload under kvm there (~5 min),
# then boots again with KVM's shadow MMU (npt=0) for the paging laws.
KVMNEST_TEST_RUN ?= .
test-kvm-nested: build
	$(GO) test -c -o .deps/kvmnest/bin/hwassist.test ./hwassist
	./scripts/kvm-nested.sh -t 1200 'set -e; \
	  (cd hwassist && ../.deps/kvmnest/bin/hwassist.test -test.count=1 -test.timeout=15m -test.run "$(KVMNEST_TEST_RUN)"); \
	  bin/virtsim check --strategies kvm --quiet; \
	  for w in $$(bin/virtsim list | awk "NR>1 && NF==0 {exit} NR>1 {print \$$1}"); do \
	    bin/virtsim run --strategy kvm --guest $$w --no-timing --quiet >/tmp/k.out; \
	    bin/virtsim run --strategy native --guest $$w --no-timing --quiet >/tmp/n.out; \
	    cmp -s /tmp/k.out /tmp/n.out || { echo "$$w: kvm prints what native does not"; diff /tmp/n.out /tmp/k.out | head; exit 1; }; \
	    echo "$$w: kvm output = native output"; \
	  done'
	KVMNEST_KVMAMD="nested=0 npt=0" ./scripts/kvm-nested.sh -t 600 \
	  'cd hwassist && ../.deps/kvmnest/bin/hwassist.test -test.count=1 -test.v -test.run "TestKVMShadowMMULaws|TestKVMPagingMatchesNative"'

clean:
	rm -rf bin bench-out
