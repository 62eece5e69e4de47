#!/bin/sh
# Make the base image the image test builds on, without a registry: a minimal Debian 12 with python3 and
# venv, from the Debian mirror (debootstrap), imported into podman as localhost/chmigrate-base:bookworm.
# The machine's CA bundle is copied in, so that pip inside the build reaches the package index through the
# same TLS proxy the machine uses. Run as root:  sh deploy/make-base-image.sh
set -eu
root=${1:-/var/tmp/chmigrate-base}
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
    http://deb.debian.org/debian
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
tar -C "$root" -c . | podman import - localhost/chmigrate-base:bookworm
