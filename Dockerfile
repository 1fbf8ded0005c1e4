# Kestrel Operator image. Cannot be built on the development machines (no Docker engine there):
# kept small enough to review. Runs as non-root under tini, which reaps the actor processes that
# thespian's admin daemonizes (DESIGN §3, Shutdown).
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY actors ./actors
COPY messages ./messages
RUN python -m venv /opt/kestrel \
 && /opt/kestrel/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:${PYTHON_VERSION}-slim
ARG KUBECTL_VERSION=v1.33.1
# Only what the default command allowlist runs: kubectl (read-only verbs), dig/nslookup, curl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini dnsutils curl ca-certificates \
 && curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl" \
 && chmod 0755 /usr/local/bin/kubectl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 kestrel && useradd --uid 65532 --gid 65532 --no-create-home kestrel
COPY --from=build /opt/kestrel /opt/kestrel
ENV PATH=/opt/kestrel/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8081 4317 8080
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "kestrel-operator"]
CMD ["run", "--topology", "/etc/kestrel/topology.yaml"]
