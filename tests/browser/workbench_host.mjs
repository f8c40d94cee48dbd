// A minimal MCP Apps host for the tests, built on the official host side: the MCP client over streamable
// HTTP (same origin, /mcp) and ext-apps' AppBridge talking to the workbench in a sandboxed iframe.
// check_workbench.mjs bundles this file with esbuild and serves it; window.host is what the test drives.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport, getToolUiResourceUri } from "@modelcontextprotocol/ext-apps/app-bridge";

const UI = "io.modelcontextprotocol/ui";
const MIME = "text/html;profile=mcp-app";
const log = { initialized: 0, modelContext: [], sizes: [], toolInputs: 0, toolResults: 0, errors: [] };

const client = new Client(
  { name: "pixwizard-test-host", version: "1.0.0" },
  { capabilities: { extensions: { [UI]: { mimeTypes: [MIME] } } } },
);
await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
const { tools } = await client.listTools();
let bridge = null;

async function mount(uri, tool, args, result) {
  const resource = await client.readResource({ uri });
  const content = resource.contents[0];
  if (content.mimeType !== MIME) throw new Error(`the app resource is ${content.mimeType}`);
  document.getElementById("frame")?.remove();
  if (bridge) await bridge.close().catch(() => {});
  const iframe = document.createElement("iframe");
  iframe.id = "frame";
  iframe.setAttribute("sandbox", "allow-scripts");
  // No border: the frame's content then starts where Playwright's boxes of its elements say (they leave a border out).
  iframe.style.cssText = "width: 820px; height: 640px; border: 0; display: block";
  document.body.append(iframe);
  bridge = new AppBridge(
    client,
    { name: "pixwizard-test-host", version: "1.0.0" },
    { serverTools: {}, serverResources: {}, logging: {}, updateModelContext: { text: {}, structuredContent: {} } },
    { hostContext: { theme: "light", displayMode: "inline", platform: "web", toolInfo: { tool } } },
  );
  bridge.oninitialized = () => {
    log.initialized += 1;
    bridge.sendToolInput({ arguments: args });
    log.toolInputs += 1;
    bridge.sendToolResult(result);
    log.toolResults += 1;
  };
  bridge.onupdatemodelcontext = async (params) => {
    log.modelContext.push(params);
    return {};
  };
  bridge.onsizechange = ({ width, height }) => {
    log.sizes.push({ width, height });
    if (height) iframe.style.height = `${height}px`;
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = content.text;
}

window.host = {
  log,
  tools,
  // Call a tool as the model would; when it names a UI resource, render it with the result.
  async call(name, args) {
    const tool = tools.find((t) => t.name === name);
    const result = await client.callTool({ name, arguments: args });
    const uri = tool ? getToolUiResourceUri(tool) : undefined;
    if (uri) await mount(uri, tool, args, result);
    return result;
  },
  // A call without rendering anything (for checks).
  raw: (name, args) => client.callTool({ name, arguments: args }),
  read: (uri) => client.readResource({ uri }),
  theme: (theme) => bridge.sendHostContextChange({ theme }),
};
window.hostReady = true;
