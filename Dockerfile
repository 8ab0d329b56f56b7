# Outrigger sidecar image: the official Node 24 slim image, production dependencies only.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json bundle.mjs ./
COPY src ./src
RUN npm ci --ignore-scripts && npm run build

FROM node:24-slim
# the same image is the capture init container (outrigger inject runs init-iptables as root there)
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
COPY init-iptables /usr/local/bin/init-iptables
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
# Istio's proxy uid: its own traffic is excluded from capture by owner match
USER 1337:1337
EXPOSE 15001 15006 15000 15090 15021
ENTRYPOINT ["node", "bin/outrigger.js"]
CMD ["run", "-c", "/etc/outrigger/config"]
