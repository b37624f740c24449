// stb's implementation, compiled only where no prebuilt stb library is found (stb is header-only upstream;
// Debian's libstb-dev ships it compiled, and then this file is not built).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
