#!/bin/sh
# make-class-data-archive ARCHIVE CLASSPATH [JAVA]: writes the application class-data archive (AppCDS) of the hdmabuf
# command for CLASSPATH, which must be the launcher's exactly (an archive fits one class path of unchanged jars and one
# JVM build; the launchers ignore one that does not fit). A training run (org.hyperdmabuf.cli.ClassDataArchive) starts
# an ivshmem server and a daemon in one JVM, which writes the classes they loaded up to READY when it exits. Written
# beside ARCHIVE and renamed, so a JVM starting meanwhile maps the old archive or the new one. On failure the archive
# is left as it was, and the exit status is 1.
set -eu
archive="${1:?usage: make-class-data-archive ARCHIVE CLASSPATH [JAVA]}"
cp="${2:?usage: make-class-data-archive ARCHIVE CLASSPATH [JAVA]}"
java="${3:-java}"
work="$(mktemp -d)"
tmp="$archive.new.$$"
trap 'rm -rf "$work" "$tmp"' EXIT
if "$java" -XX:ArchiveClassesAtExit="$tmp" -Xlog:cds=off,cds+dynamic=off -cp "$cp" \
        org.hyperdmabuf.cli.ClassDataArchive "$work" && [ -s "$tmp" ]; then
    mv -f "$tmp" "$archive"
else
    echo "hdmabuf: no class-data archive made (daemons start without one, more slowly)" >&2
    exit 1
fi
