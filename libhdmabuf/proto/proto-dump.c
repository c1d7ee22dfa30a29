/* SPDX-License-Identifier: MIT */
/*
 * Prints the message and enum descriptors protoc-c generated, reachable from Request and
 * ServerFrame, one canonical line each; check-proto.py compares them with what protoc reads
 * from the .proto files.
 */
#include <stdio.h>
#include <string.h>

#include "client.pb-c.h"

#define MAX_SEEN 256

static const void *seen[MAX_SEEN];
static size_t n_seen;

static int visit(const void *d)
{
    for (size_t i = 0; i < n_seen; i++) {
        if (seen[i] == d) {
            return 0;
        }
    }
    if (n_seen == MAX_SEEN) {
        fprintf(stderr, "too many descriptors\n");
        return 0;
    }
    seen[n_seen++] = d;
    return 1;
}

static const char *type_name(ProtobufCType t)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32", [PROTOBUF_C_TYPE_SINT32] = "sint32", [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32",
        [PROTOBUF_C_TYPE_INT64] = "int64", [PROTOBUF_C_TYPE_SINT64] = "sint64", [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32", [PROTOBUF_C_TYPE_FIXED32] = "fixed32", [PROTOBUF_C_TYPE_UINT64] = "uint64",
        [PROTOBUF_C_TYPE_FIXED64] = "fixed64", [PROTOBUF_C_TYPE_FLOAT] = "float", [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool", [PROTOBUF_C_TYPE_ENUM] = "enum", [PROTOBUF_C_TYPE_STRING] = "string",
        [PROTOBUF_C_TYPE_BYTES] = "bytes", [PROTOBUF_C_TYPE_MESSAGE] = "message",
    };
    return (size_t)t < sizeof(names) / sizeof(names[0]) && names[t] != NULL ? names[t] : "?";
}

static void dump_enum(const ProtobufCEnumDescriptor *e)
{
    if (!visit(e)) {
        return;
    }
    for (unsigned i = 0; i < e->n_values; i++) {
        printf("enum %s %s=%d\n", e->name, e->values[i].name, e->values[i].value);
    }
}

static void dump_message(const ProtobufCMessageDescriptor *m)
{
    if (!visit(m)) {
        return;
    }
    printf("message %s\n", m->name);
    for (unsigned i = 0; i < m->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->fields[i];
        const char *ref = f->type == PROTOBUF_C_TYPE_MESSAGE ? ((const ProtobufCMessageDescriptor *)f->descriptor)->name :
            f->type == PROTOBUF_C_TYPE_ENUM ? ((const ProtobufCEnumDescriptor *)f->descriptor)->name : "-";
        int oneof_first = 0;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* Fields of one oneof share their case member: name the oneof by its first field. */
            for (unsigned j = 0; j < m->n_fields; j++) {
                if ((m->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    m->fields[j].quantifier_offset == f->quantifier_offset) {
                    oneof_first = (int)m->fields[j].id;
                    break;
                }
            }
        }
        printf("field %s %u %s %s %s %s oneof=%d\n", m->name, f->id, f->name,
            f->label == PROTOBUF_C_LABEL_REPEATED ? "repeated" : "single", type_name(f->type), ref, oneof_first);
    }
    for (unsigned i = 0; i < m->n_fields; i++) {
        if (m->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
            dump_message(m->fields[i].descriptor);
        } else if (m->fields[i].type == PROTOBUF_C_TYPE_ENUM) {
            dump_enum(m->fields[i].descriptor);
        }
    }
}

int main(void)
{
    dump_message(&hyperdmabuf__v1__request__descriptor);
    dump_message(&hyperdmabuf__v1__server_frame__descriptor);
    return 0;
}
