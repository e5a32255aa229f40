-- Roll the canary back now. The operator rejects the canary version (reason Aborted),
-- restores the stable version to 100% and removes the annotation.
if obj.metadata.annotations == nil then obj.metadata.annotations = {} end
obj.metadata.annotations["berth.dev/abort"] = "true"
return obj
