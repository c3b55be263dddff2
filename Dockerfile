# One image for `weir operator` and `weir agent`. Build: docker build -t weir .
# Stage 1 builds the native addon (node-gyp against libbpf), the BPF objects and the TypeScript.
FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev libelf-dev zlib1g-dev make g++ python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY libbpfjs/package.json libbpfjs/
RUN npm install --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx node-gyp rebuild --directory libbpfjs \
    && npm run build -w libbpfjs \
    && make -C bpf \
    && make -C cni \
    && npx tsc -p tsconfig.build.json \
    && npm prune --omit=dev

# Stage 2: the runtime: the Debian packages in image/runtime-packages (each says why), the same
# list the test layer's image (scripts/image.sh) installs.
FROM node:20-bookworm-slim
COPY image/runtime-packages /tmp/runtime-packages
RUN apt-get update && grep -v '^#' /tmp/runtime-packages | xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/libbpfjs/package.json libbpfjs/
COPY --from=build /src/libbpfjs/dist libbpfjs/dist
COPY --from=build /src/libbpfjs/build/Release/bpf_binding.node libbpfjs/build/Release/
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/bpf ./build/bpf
COPY --from=build /src/build/cni ./build/cni
# The operator runs as nobody (the chart sets it); the agent needs root-owned capabilities.
ENTRYPOINT ["node", "/app/dist/cli/weir.js"]
CMD ["--help"]
