#!/usr/bin/env bash
# The end-to-end suite with runtime.clone on: every sandbox, once the
# template holder's template is ready, is a clone of it (issue 19); plus the
# clone tests of 30-e2e.sh (identity, holder death). See 30-e2e.sh.
QB_E2E_CLONE=1 QB_T=${QB_T:-c$$} exec "$(dirname "$0")/30-e2e.sh" "$@"
