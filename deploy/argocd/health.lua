-- Argo CD health check for berth.dev/BertModel (resource.customizations.health.berth.dev_BertModel).
--
-- Canary-aware and generation-aware:
--   Progressing  the operator has not yet observed the latest spec (status.observedGeneration
--                < metadata.generation), or a version is loading / taking traffic step by step
--   Degraded     phase Failed, a rollback in progress, or spec.version was rolled back
--                (Degraded condition True and spec.version listed in status.rejectedVersions);
--                the old stable version keeps serving, but Git asks for a version that will
--                not be retried until spec.version changes
--   Suspended    the rollout is paused (spec.rollout.paused or phase Paused) with a canary
--   Healthy      phase Serving, spec.version == status.stableVersion, and it serves 100%
--
-- Written for Argo CD's Lua (gopher-lua, Lua 5.1); tested with Lua 5.1 and 5.4 (make argocd-lua).
local hs = {}

local function num(v)
  if v == nil then return "?" end
  if type(v) == "number" and v == math.floor(v) then return string.format("%d", v) end
  return tostring(v)
end

local function condition(status, ctype)
  if status == nil or status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then return c end
  end
  return nil
end

local function weight_of(status, version)
  if status.traffic == nil then return nil end
  for _, t in ipairs(status.traffic) do
    if t.version == version then return t.weight end
  end
  return nil
end

local function rejection(status, version)
  if status.rejectedVersions == nil then return nil end
  for _, r in ipairs(status.rejectedVersions) do
    if r.version == version then return r end
  end
  return nil
end

local function with_message(text, c)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return text .. ": " .. c.message
  end
  return text
end

local spec = obj.spec or {}
local status = obj.status
local version = spec.version
local generation = obj.metadata and obj.metadata.generation

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Berth operator to report status"
  return hs
end

-- A status computed from an older spec says nothing about the current one.
if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Berth operator to observe generation " .. num(generation)
    .. " (status is for generation " .. num(status.observedGeneration) .. ")"
  return hs
end

local phase = status.phase or "Pending"
local degraded = condition(status, "Degraded")
local ready = condition(status, "Ready")

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = with_message("BertModel failed", ready or degraded)
  return hs
end

local rejected = rejection(status, version)
if rejected ~= nil and ((degraded ~= nil and degraded.status == "True") or phase == "Degraded") then
  hs.status = "Degraded"
  hs.message = "Version " .. tostring(version) .. " was rolled back (" .. tostring(rejected.reason) .. ")"
  if rejected.message ~= nil and rejected.message ~= "" then
    hs.message = hs.message .. ": " .. rejected.message
  end
  if status.stableVersion ~= nil then
    hs.message = hs.message .. "; version " .. status.stableVersion .. " still serves"
  end
  return hs
end

if phase == "RollingBack" then
  hs.status = "Degraded"
  hs.message = with_message("Rolling back version " .. tostring(status.canaryVersion or version), degraded)
  return hs
end

if phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = with_message("BertModel is degraded", degraded or ready)
  return hs
end

local paused = spec.rollout ~= nil and spec.rollout.paused == true
if phase == "Paused" or (paused and status.canaryVersion ~= nil) then
  hs.status = "Suspended"
  hs.message = "Rollout of version " .. tostring(status.canaryVersion or version) .. " is paused"
  if status.canaryWeight ~= nil then
    hs.message = hs.message .. " at " .. num(status.canaryWeight) .. "% of traffic"
  end
  return hs
end

if phase == "Serving" and version ~= nil and status.stableVersion == version
    and weight_of(status, version) == 100 then
  if ready ~= nil and ready.status ~= "True" then
    hs.status = "Progressing"
    hs.message = with_message("Version " .. version .. " serves 100% but is not ready", ready)
    return hs
  end
  hs.status = "Healthy"
  hs.message = "Version " .. version .. " serves 100% of traffic"
  return hs
end

hs.status = "Progressing"
if phase == "Loading" then
  hs.message = "Loading version " .. tostring(status.canaryVersion or version)
elseif phase == "Progressing" then
  hs.message = "Rolling out version " .. tostring(status.canaryVersion or version)
  if status.canaryWeight ~= nil then
    hs.message = hs.message .. ": " .. num(status.canaryWeight) .. "% of traffic"
  end
  if status.currentStep ~= nil then
    local steps = spec.rollout and spec.rollout.steps
    hs.message = hs.message .. ", step " .. num(status.currentStep + 1)
    if steps ~= nil then hs.message = hs.message .. " of " .. num(#steps) end
  end
  if status.mirror ~= nil and status.mirror > 0 then
    hs.message = hs.message .. "; " .. num(status.mirror) .. "% of stable's requests mirrored to it"
    local a = status.analysis
    if a ~= nil and a.agreement ~= nil then
      hs.message = hs.message .. ", agreement " .. string.format("%.4f", a.agreement)
    end
  end
elseif phase == "Pending" then
  hs.message = with_message("Waiting for serving pods", ready)
else
  hs.message = "Waiting for version " .. tostring(version) .. " to serve 100% of traffic (phase "
    .. phase .. ", stable " .. tostring(status.stableVersion) .. ")"
end
return hs
