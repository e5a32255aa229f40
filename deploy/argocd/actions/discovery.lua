-- Argo CD resource actions for berth.dev/BertModel (resource.customizations.actions.berth.dev_BertModel).
-- pause/resume flip spec.rollout.paused; abort/promote set an annotation the operator acts on
-- (berth.dev/abort: "true" rolls the canary back; berth.dev/promote: "true" skips the remaining steps).
local actions = {}
local status = obj.status or {}
local paused = obj.spec ~= nil and obj.spec.rollout ~= nil and obj.spec.rollout.paused == true
local phase = status.phase
local rolling = status.canaryVersion ~= nil and
  (phase == "Loading" or phase == "Progressing" or phase == "Paused")

actions["pause"] = {["disabled"] = paused, ["iconClass"] = "fa fa-fw fa-pause-circle"}
actions["resume"] = {["disabled"] = not paused, ["iconClass"] = "fa fa-fw fa-play-circle"}
actions["abort"] = {["disabled"] = not rolling, ["iconClass"] = "fa fa-fw fa-times-circle"}
actions["promote"] = {["disabled"] = not rolling, ["iconClass"] = "fa fa-fw fa-forward"}
return actions
