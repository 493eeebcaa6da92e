/* fuzz.h - shared by the libFuzzer targets in tests/fuzz.
 *
 * Random bytes almost never carry a right XXH3-64, so a target that only
 * fed raw input to the decoders would spend its time in the checksum
 * comparison.  Each target therefore runs twice per input: once on the
 * raw bytes (the checksum-rejection path) and once on a copy whose
 * checksums the target recomputes (the framing code behind them).  The
 * decoders themselves have no bypass. */
#ifndef RECFS_FUZZ_H
#define RECFS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* assert() vanishes under NDEBUG; a fuzz oracle must never. */
#define CHECK(c)                                                         \
	do {                                                             \
		if (!(c)) {                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",     \
				__FILE__, __LINE__, #c);                 \
			abort();                                         \
		}                                                        \
	} while (0)

#endif
