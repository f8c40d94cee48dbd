// The view side of MCP Apps (io.modelcontextprotocol/ui, revision 2026-01-26): JSON-RPC 2.0 messages
// with the host over window.parent.postMessage. Written from the MCP Apps specification; no SDK.
//
//   const bridge = new McpAppBridge({ name: "pixwizard-workbench", version: "1" });
//   bridge.on("ui/notifications/tool-result", (result) => ...);
//   const init = await bridge.connect();        // ui/initialize, then ui/notifications/initialized
//   await bridge.callTool("inpaint", { ... });   // tools/call, answered by the host (or its server)
"use strict";

const McpAppBridge = (() => {
  const PROTOCOL_VERSION = "2026-01-26";
  const TIMEOUT_MS = 10 * 60 * 1000; // a model call on a CPU can take minutes

  class McpAppBridge {
    constructor(appInfo, capabilities = {}) {
      this.appInfo = appInfo;
      this.capabilities = capabilities;
      this.nextId = 1;
      this.pending = new Map();
      this.handlers = new Map();
      this.host = null; // the ui/initialize result: hostInfo, hostCapabilities, hostContext
      this.lastSize = null;
      window.addEventListener("message", (event) => this.receive(event));
    }

    // Register a handler for a host notification (method name) or host request (its result is returned).
    on(method, handler) {
      this.handlers.set(method, handler);
      return this;
    }

    receive(event) {
      if (event.source !== window.parent) return; // only the host may talk to the view
      const message = event.data;
      if (!message || typeof message !== "object" || message.jsonrpc !== "2.0") return;
      if (message.method === undefined && message.id !== undefined) {
        const waiting = this.pending.get(message.id);
        if (!waiting) return;
        this.pending.delete(message.id);
        clearTimeout(waiting.timer);
        if (message.error) {
          const error = new Error(message.error.message || "the host refused the request");
          error.code = message.error.code;
          error.data = message.error.data;
          waiting.reject(error);
        } else {
          waiting.resolve(message.result);
        }
        return;
      }
      if (typeof message.method !== "string") return;
      const handler = this.handlers.get(message.method);
      if (message.id === undefined) {
        if (handler) {
          try {
            handler(message.params || {});
          } catch (error) {
            console.error(`[workbench] ${message.method}:`, error);
          }
        }
        return;
      }
      this.answer(message, handler);
    }

    async answer(request, handler) {
      const reply = { jsonrpc: "2.0", id: request.id };
      if (handler) {
        try {
          reply.result = (await handler(request.params || {})) || {};
        } catch (error) {
          reply.error = { code: -32603, message: String(error && error.message ? error.message : error) };
        }
      } else if (request.method === "ping" || request.method === "ui/resource-teardown") {
        reply.result = {};
      } else {
        reply.error = { code: -32601, message: `the view does not handle ${request.method}` };
      }
      this.post(reply);
    }

    post(message) {
      // A sandboxed view has an opaque origin and cannot name the host's: the host checks the source.
      window.parent.postMessage(message, "*");
    }

    request(method, params = {}, timeoutMs = TIMEOUT_MS) {
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          // Tell the host to stop (and so the server, for a tools/call): nobody waits for the answer now.
          this.notify("notifications/cancelled", { requestId: id, reason: "timed out in the view" });
          reject(new Error(`${method}: no answer from the host in ${Math.round(timeoutMs / 1000)} s`));
        }, timeoutMs);
        this.pending.set(id, { resolve, reject, timer });
        this.post({ jsonrpc: "2.0", id, method, params });
      });
    }

    notify(method, params = {}) {
      this.post({ jsonrpc: "2.0", method, params });
    }

    async connect() {
      this.host = await this.request(
        "ui/initialize",
        { appInfo: this.appInfo, appCapabilities: this.capabilities, protocolVersion: PROTOCOL_VERSION },
        30000,
      );
      this.notify("ui/notifications/initialized", {});
      return this.host;
    }

    hostContext() {
      return (this.host && this.host.hostContext) || {};
    }

    callTool(name, args) {
      return this.request("tools/call", { name, arguments: args });
    }

    readResource(uri) {
      return this.request("resources/read", { uri });
    }

    // Tell the model what the person did; the host adds it to the conversation's context.
    updateModelContext(content, structuredContent) {
      const params = { content };
      if (structuredContent) params.structuredContent = structuredContent;
      return this.request("ui/update-model-context", params, 30000);
    }

    sendSize(width, height) {
      const size = { width: Math.ceil(width), height: Math.ceil(height) };
      if (this.lastSize && this.lastSize.width === size.width && this.lastSize.height === size.height) return;
      this.lastSize = size;
      this.notify("ui/notifications/size-changed", size);
    }

    // Report the document's size to the host whenever it changes.
    autoResize(element = document.documentElement) {
      const report = () => {
        const box = element.getBoundingClientRect();
        this.sendSize(Math.max(box.width, element.scrollWidth), Math.max(box.height, element.scrollHeight));
      };
      new ResizeObserver(report).observe(element);
      report();
    }
  }

  return McpAppBridge;
})();
