#!/usr/bin/env bash
# Builds the Debian packages with dpkg-deb (no debian/rules: the jars come from Maven, the C side from a meson install):
#   hyperdmabuf           the daemons and the CLI (one jar in /usr/share/hyperdmabuf, /usr/bin/hdmabuf runs java), systemd
#                         units, man pages (picocli's ManPageGenerator, rendered by asciidoctor), bash completion
#   libhdmabuf0, libhdmabuf-dev, gstreamer1.0-hdmabuf   from `meson install` (unless SKIP_C=true)
# then runs lintian on them when it is installed. Outside CI a missing tool skips with a message; with CI=true it fails.
# usage: build-debs.sh OUT_DIR VERSION [SKIP_C]     (OUT_DIR: packaging/debian/target; VERSION: the pom's revision)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:?usage: build-debs.sh OUT_DIR VERSION [SKIP_C]}" && cd "$1" && pwd)"
revision="${2:?usage: build-debs.sh OUT_DIR VERSION [SKIP_C]}"
skip_c="${3:-false}"
# 0.1.0-SNAPSHOT sorts before 0.1.0 as 0.1.0~snapshot (a native package: no Debian revision).
version="$(echo "$revision" | sed 's/-SNAPSHOT$/~snapshot/; s/-/~/g')"
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"

skip_or_fail() {
    echo "debian packages: $1" >&2
    if [ "${CI:-}" = true ]; then
        exit 1
    fi
    exit 0
}
missing=()
for tool in dpkg-deb dpkg-shlibdeps java asciidoctor; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] || skip_or_fail "not built: ${missing[*]} not found (apt-get install dpkg-dev asciidoctor)"

stage="$out/deb"
rm -rf "$stage"
mkdir -p "$stage"

# ---- hyperdmabuf: the Java daemons and CLI ----
pkg="$stage/hyperdmabuf"
share="$pkg/usr/share/hyperdmabuf"
doc="$pkg/usr/share/doc/hyperdmabuf"
mkdir -p "$share" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/share/man/man1" \
    "$pkg/usr/share/bash-completion/completions" "$doc/examples/systemd" "$pkg/etc/default" "$pkg/DEBIAN"
# One jar: the CLI and its whole runtime class path (its copyright file, below, lists the libraries it bundles).
install -m 0644 "$root/cli/target/hdmabuf.jar" "$share/"
install -m 0755 "$here/hyperdmabuf/hdmabuf" "$pkg/usr/bin/hdmabuf"
install -m 0755 "$root/packaging/make-class-data-archive.sh" "$share/"
# jffi's and netty's native libraries, out of their jars at build time (cli/target/native): /usr/bin/hdmabuf names the
# directory, so neither unpacks its own to a temporary file at every start.
mkdir -p "$pkg/usr/lib/hyperdmabuf"
install -m 0644 "$root"/cli/target/native/*.so "$pkg/usr/lib/hyperdmabuf/"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg"/usr/lib/hyperdmabuf/*.so
install -m 0644 "$here"/systemd/*.service "$pkg/lib/systemd/system/"
install -m 0644 "$here/hyperdmabuf/default" "$pkg/etc/default/hyperdmabuf"
install -m 0644 "$here"/systemd/examples/*.conf "$doc/examples/systemd/"
# The sample policy is documentation: installing the package must not change what a daemon permits.
install -m 0644 "$root/packaging/policy.toml" "$doc/examples/policy.toml"
install -m 0644 "$root/abi-spec/POLICY.md" "$doc/POLICY.md"
gzip -9n "$doc/POLICY.md"
# The common copyright file and the stanzas for the libraries hdmabuf.jar bundles (the other packages bundle none).
cat "$here/copyright" "$here/hyperdmabuf/copyright.bundled" > "$doc/copyright"
chmod 0644 "$doc/copyright"
install -m 0644 "$here/changelog" "$doc/changelog"
sed -i "1s/([^)]*)/($version)/" "$doc/changelog"
gzip -9n "$doc/changelog"

cp="$root/cli/target/hdmabuf.jar"
codegen="$(cat "$out/codegen.classpath")"
# Man pages: hdmabuf(1) and hdmabuf-COMMAND(1) for every visible command, from the picocli annotations.
adoc="$out/man-adoc"
rm -rf "$adoc"
java -cp "$cp:$codegen" picocli.codegen.docgen.manpage.ManPageGenerator -d "$adoc" org.hyperdmabuf.cli.Hdmabuf
# picocli pages the hidden commands (the demo's internal processes) and help too; users are not meant to run those.
for hidden in demo-producer demo-consumer stream-producer stream-consumer write-import help; do
    rm -f "$adoc/hdmabuf-$hidden.adoc"
done
asciidoctor -b manpage -a reproducible -D "$pkg/usr/share/man/man1" "$adoc"/*.adoc
gzip -9n "$pkg"/usr/share/man/man1/*.1
# Bash completion, without the generated script's #! line (a completion file is sourced, not run).
java -cp "$cp" picocli.AutoComplete -f -n hdmabuf -o "$out/hdmabuf.completion" org.hyperdmabuf.cli.Hdmabuf
sed '1{/^#!/d}' "$out/hdmabuf.completion" > "$pkg/usr/share/bash-completion/completions/hdmabuf"
chmod 0644 "$pkg/usr/share/bash-completion/completions/hdmabuf"

verify_units() {  # systemd-analyze verify on the units, in a root made of this host's units and the package's files
    if ! command -v systemd-analyze >/dev/null 2>&1; then
        skip_or_fail "units not verified: systemd-analyze not found (apt-get install systemd)"
        return
    fi
    local vroot="$out/units-root" report
    rm -rf "$vroot"
    mkdir -p "$vroot/lib/systemd" "$vroot/bin"
    cp -a /lib/systemd/system "$vroot/lib/systemd/"
    cp -a "$pkg/." "$vroot/"
    rm -rf "$vroot/DEBIAN"
    cp /bin/kill "$vroot/bin/"
    # It exits 0 on a misspelt setting (only warns), so any output fails the check.
    report="$(cd "$vroot" && for unit in lib/systemd/system/hdmabuf-*.service; do
        systemd-analyze verify --man=no --root="$vroot" "/$unit" 2>&1 || echo "$unit: verify failed"; done)"
    rm -rf "$vroot"
    if [ -n "$report" ]; then
        echo "$report" >&2
        echo "debian packages: systemd-analyze verify rejected the units" >&2
        exit 1
    fi
    echo "debian packages: systemd-analyze verify accepts $(ls "$pkg"/lib/systemd/system | tr '\n' ' ')"
}
control() {   # control PKG_DIR TEMPLATE_DIR [DEPENDS]: DEBIAN/ from the template (# lines are comments), with version, size, md5sums
    local dir="$1" tmpl="$2" depends="${3:-}"
    mkdir -p "$dir/DEBIAN"
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
        -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$dir" | cut -f1)/" -e '/^#/d' "$tmpl/control" > "$dir/DEBIAN/control"
    for script in postinst postrm conffiles triggers shlibs; do
        if [ -f "$tmpl/$script" ]; then
            sed "s/@VERSION@/$version/" "$tmpl/$script" > "$dir/DEBIAN/$script"
            chmod 0644 "$dir/DEBIAN/$script"
            case "$script" in post*) chmod 0755 "$dir/DEBIAN/$script" ;; esac
        fi
    done
    (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 md5sum > DEBIAN/md5sums)
    chmod 0644 "$dir/DEBIAN/md5sums"
}
build() {     # build NAME [DEPENDS]: DEBIAN/ from packaging/debian/NAME, then the .deb in OUT_DIR
    local name="$1"
    control "$stage/$name" "$here/$name" "${2:-}"
    find "$stage/$name" -type d -exec chmod 0755 {} +
    dpkg-deb --root-owner-group -Zxz --build "$stage/$name" "$out/${name}_${version}_$(sed -n 's/^Architecture: //p' \
        "$stage/$name/DEBIAN/control").deb" >/dev/null
}
native_depends() { # native_depends ELF...: their Depends (libc6), from dpkg-shlibdeps
    local tmp
    tmp="$(mktemp -d)"
    mkdir "$tmp/debian"
    printf 'Source: hyperdmabuf\n\nPackage: hyperdmabuf\nArchitecture: any\n' > "$tmp/debian/control"
    (cd "$tmp" && dpkg-shlibdeps -O "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$tmp"
}
(verify_units)
depends="$(native_depends "$pkg"/usr/lib/hyperdmabuf/*.so)"
[ -n "$depends" ] || { echo "debian packages: dpkg-shlibdeps gave no Depends for /usr/lib/hyperdmabuf" >&2; exit 1; }
build hyperdmabuf ", $depends"

shlibdeps() { # shlibdeps ELF...: their Depends, from dpkg-shlibdeps (libhdmabuf's from the package built here)
    local tmp
    tmp="$(mktemp -d)"
    mkdir "$tmp/debian"
    printf 'Source: hyperdmabuf\n\nPackage: libhdmabuf0\nArchitecture: any\n' > "$tmp/debian/control"
    ln -s "$stage/libhdmabuf0" "$tmp/debian/libhdmabuf0"
    (cd "$tmp" && dpkg-shlibdeps -O -l"$stage/libhdmabuf0/$libdir" "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$tmp"
}
debs=("$out/hyperdmabuf_${version}_$arch.deb")

# ---- the C side: library, headers, GStreamer plugin, from one meson install ----
if [ "$skip_c" != true ]; then
    if ! command -v meson >/dev/null 2>&1; then
        skip_or_fail "C packages not built: meson not found"
    fi
    triplet="$(gcc -dumpmachine 2>/dev/null | sed 's/-pc-/-/; s/-unknown-/-/')"
    build_dir="$out/meson-release"
    dest="$out/meson-install"
    rm -rf "$dest"
    [ -d "$build_dir" ] || meson setup "$build_dir" "$root" --prefix=/usr --libdir="lib/$triplet" \
        --buildtype=release -Dtests=disabled -Dgstreamer=auto >/dev/null
    meson compile -C "$build_dir" >/dev/null
    DESTDIR="$dest" meson install -C "$build_dir" --no-rebuild >/dev/null
    libdir="usr/lib/$triplet"
    mkdir -p "$stage/libhdmabuf0/$libdir" "$stage/libhdmabuf-dev/$libdir/pkgconfig" "$stage/libhdmabuf-dev/usr/include"
    cp -a "$dest/$libdir"/libhdmabuf.so.* "$stage/libhdmabuf0/$libdir/"
    cp -a "$dest/$libdir/libhdmabuf.so" "$stage/libhdmabuf-dev/$libdir/"
    cp -a "$dest/$libdir/pkgconfig/hdmabuf.pc" "$stage/libhdmabuf-dev/$libdir/pkgconfig/"
    cp -a "$dest/usr/include/hyperdmabuf" "$stage/libhdmabuf-dev/usr/include/"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/libhdmabuf0/$libdir"/libhdmabuf.so.0.*
    chmod 0644 "$stage/libhdmabuf0/$libdir"/libhdmabuf.so.0.*
    for name in libhdmabuf0 libhdmabuf-dev; do
        mkdir -p "$stage/$name/usr/share/doc/$name"
        install -m 0644 "$here/copyright" "$stage/$name/usr/share/doc/$name/copyright"
        install -m 0644 "$here/changelog" "$stage/$name/usr/share/doc/$name/changelog"
        sed -i "1s/([^)]*)/($version)/" "$stage/$name/usr/share/doc/$name/changelog"
        gzip -9n "$stage/$name/usr/share/doc/$name/changelog"
    done
    build libhdmabuf0 "$(shlibdeps "$stage/libhdmabuf0/$libdir"/libhdmabuf.so.0.*)"
    build libhdmabuf-dev
    debs+=("$out/libhdmabuf0_${version}_$arch.deb" "$out/libhdmabuf-dev_${version}_$arch.deb")
    plugin="$(cd "$dest" && find . -name libgsthdmabuf.so | sed 's|^\./||')"
    if [ -n "$plugin" ]; then
        name=gstreamer1.0-hdmabuf
        mkdir -p "$stage/$name/$(dirname "$plugin")" "$stage/$name/usr/share/doc/$name"
        install -m 0644 "$dest/$plugin" "$stage/$name/$plugin"
        # meson sets an RPATH to the system libdir, where libhdmabuf is found anyway.
        if ! command -v chrpath >/dev/null 2>&1; then
            skip_or_fail "gstreamer1.0-hdmabuf not built: chrpath not found (apt-get install chrpath)"
        fi
        chrpath -d "$stage/$name/$plugin" >/dev/null
        strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$name/$plugin"
        chmod 0644 "$stage/$name/$plugin"
        install -m 0644 "$here/copyright" "$stage/$name/usr/share/doc/$name/copyright"
        install -m 0644 "$here/changelog" "$stage/$name/usr/share/doc/$name/changelog"
        sed -i "1s/([^)]*)/($version)/" "$stage/$name/usr/share/doc/$name/changelog"
        gzip -9n "$stage/$name/usr/share/doc/$name/changelog"
        build "$name" "$(shlibdeps "$stage/$name/$plugin")"
        debs+=("$out/${name}_${version}_$arch.deb")
    else
        skip_or_fail "gstreamer1.0-hdmabuf not built: the meson build left the plugin out (libgstreamer1.0-dev missing?)"
    fi
fi

for deb in "${debs[@]}"; do
    echo "debian packages: built $deb"
done
if [ "${HDMABUF_SKIP_LINTIAN:-}" = 1 ]; then
    # The installation test builds a package of its own; the build's packages are the ones lintian checks.
    echo "debian packages: lintian left out (HDMABUF_SKIP_LINTIAN=1)"
elif command -v lintian >/dev/null 2>&1; then
    # Errors fail the build; warnings are listed (README "Installing the Debian packages" names the known ones).
    lintian --fail-on error --suppress-tags-from-file "$here/lintian-overrides" "${debs[@]}"
else
    skip_or_fail "lintian not installed: packages built but not checked (apt-get install lintian)"
fi
