#!/bin/sh
# make-class-data-archive ARCHIVE CLASSPATH [JAVA]: writes the application class-data archive (AppCDS) of the hdmabuf
# command for CLASSPATH, which must be the launcher's exactly (an archive fits one class path of unchanged jars and one
# JVM build; the launchers ignore one that does not fit). A training run (org.hyperdmabuf.cli.ClassDataArchive) starts
# an ivshmem server and a daemon in one JVM, which lists the classes they loaded up to READY when it exits; a second
# JVM writes them into a static archive (with the JDK's own classes: it replaces the JVM's default one). Static, not
# dynamic: a dynamic archive cannot hold picocli (Java 5 class files). Written beside ARCHIVE and
# renamed, so a JVM starting meanwhile maps the old archive or the new one. On failure the archive is left as it was,
# and the exit status is 1.
set -eu
archive="${1:?usage: make-class-data-archive ARCHIVE CLASSPATH [JAVA]}"
cp="${2:?usage: make-class-data-archive ARCHIVE CLASSPATH [JAVA]}"
java="${3:-java}"
work="$(mktemp -d)"
tmp="$archive.new.$$"
trap 'rm -rf "$work" "$tmp"' EXIT
if "$java" -XX:DumpLoadedClassList="$work/classes" -Xlog:cds=off,cds+dynamic=off -cp "$cp" \
        org.hyperdmabuf.cli.ClassDataArchive "$work/training" &&
    "$java" -Xshare:dump -XX:SharedClassListFile="$work/classes" -XX:SharedArchiveFile="$tmp" -Xlog:cds=off \
        -cp "$cp" && [ -s "$tmp" ]; then
    mv -f "$tmp" "$archive"
else
    echo "hdmabuf: no class-data archive made (daemons start without one, more slowly)" >&2
    exit 1
fi
