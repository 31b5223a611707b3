#!/usr/bin/env bash
# The report test looks at the HTML report in headless Chromium (Debian's `chromium`).
# Install it when missing and we may (root with apt-get); otherwise that test is skipped.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "ensure-chromium: could not install chromium; the report screenshot test will be skipped"
else
  echo "ensure-chromium: chromium not found and not root; the report screenshot test will be skipped"
fi
exit 0
