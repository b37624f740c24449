// vtr — Visual Token Reduction. Version macros.
#pragma once

#define VTR_VERSION_MAJOR 0
#define VTR_VERSION_MINOR 1
#define VTR_VERSION_PATCH 0
#define VTR_VERSION_STRING "0.1.0"
