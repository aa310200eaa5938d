// zlib from the system (Debian: zlib1g-dev; macOS: the SDK).
#include <zlib.h>
