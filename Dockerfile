FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm i --no-save tsx
COPY . .
EXPOSE 3000
CMD ["node", "bin/leadgate.mjs", "start"]
