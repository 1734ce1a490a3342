/*
 * Golden files for unit tests: tests/golden/<dir>/<name>.txt, read from
 * the repository root (as tests/run runs the suites). QB_UPDATE_GOLDEN=1
 * in the environment rewrites the file with what the test produced.
 */
#ifndef QEMUBOX_TESTS_GOLDEN_H
#define QEMUBOX_TESTS_GOLDEN_H

/* cmocka failure (showing got) unless got equals the file at path. */
void golden_check(const char *path, const char *got);

#endif
