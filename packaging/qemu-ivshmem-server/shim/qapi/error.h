/* Stand-in for QEMU's qapi/error.h: an error is its message. */
#ifndef HDMABUF_SHIM_ERROR_H
#define HDMABUF_SHIM_ERROR_H

typedef struct Error
{
    char *message;
} Error;

void error_report_err(Error *err);

#endif
