/* The OpenAPI description (docs/openapi.yaml), embedded at build time as YAML and as JSON. */
#ifndef KERNELBOX_OPENAPI_SPEC_H
#define KERNELBOX_OPENAPI_SPEC_H

extern const char openapi_spec_yaml[];
extern const char openapi_spec_json[];

#endif
