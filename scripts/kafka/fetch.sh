#!/usr/bin/env bash
# Fetches the Apache Kafka broker's jars (pom.xml beside this file: the pinned
# version and its runtime dependencies) from Maven Central with Maven, once, into
# ~/.cache/tally-kafka/<version>/libs (Maven's own downloads cached beside them),
# and prints that folder. Later calls print it without going online.
set -euo pipefail
here=$(dirname "$0")
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs="$HOME/.cache/tally-kafka/$version/libs"
if [ ! -f "$libs/.complete" ]; then
    rm -rf "$libs"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
        -Dmaven.repo.local="$HOME/.cache/tally-kafka/m2" \
        -DincludeScope=runtime -DoutputDirectory="$libs" >&2
    touch "$libs/.complete"
fi
echo "$libs"
