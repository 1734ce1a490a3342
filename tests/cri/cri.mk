# The CRI test client (tests/cri/cri.js): its npm dependencies are installed
# from the committed package-lock.json into the build tree at build time
# (`npm ci`), never by a test. Tests run $(BUILD)/cri/cri.js.
CRI_DIR := $(BUILD)/cri
CRI_SRCS := tests/cri/cri.js tests/cri/api.proto
CRI_STAMP := $(CRI_DIR)/node_modules/.qb-installed

$(CRI_STAMP): tests/cri/package.json tests/cri/package-lock.json
	@mkdir -p $(CRI_DIR)
	cp tests/cri/package.json tests/cri/package-lock.json $(CRI_DIR)/
	cd $(CRI_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

$(CRI_DIR)/%: tests/cri/% $(CRI_STAMP)
	@mkdir -p $(@D)
	cp $< $@

cri-client: $(CRI_STAMP) $(patsubst tests/cri/%,$(CRI_DIR)/%,$(CRI_SRCS))
ALL_EXTRA += cri-client
.PHONY: cri-client
