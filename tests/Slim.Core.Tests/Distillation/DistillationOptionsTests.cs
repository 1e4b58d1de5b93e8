using Slim.Compression.Distillation;

namespace Slim.Core.Tests.Distillation;

public class DistillationOptionsTests
{
    [Theory]
    [InlineData("yolo_output.0:yolo_output.1", "yolo_output.0", "yolo_output.1")]
    [InlineData(" backbone.conv5 : backbone.conv5 ", "backbone.conv5", "backbone.conv5")]
    [InlineData("yolo_output.2", "yolo_output.2", "yolo_output.2")]
    public void FeaturePair_Parse(string text, string teacher, string student) =>
        Assert.Equal(new FeaturePair(teacher, student), FeaturePair.Parse(text));

    [Theory]
    [InlineData("a:b:c")]
    [InlineData(":b")]
    [InlineData("")]
    public void FeaturePair_Parse_RejectsMalformedPairs(string text) =>
        Assert.Contains("teacher_path:student_path", Assert.Throws<DistillationException>(() => FeaturePair.Parse(text)).Message);

    [Fact]
    public void Defaults_AreTheThreeYoloOutputsWithSplitDistillation()
    {
        var o = new DistillationOptions();
        o.Check();
        Assert.Equal(DistillationKind.Split, o.Kind);
        Assert.Equal(new[] { "yolo_output.0:yolo_output.0", "yolo_output.1:yolo_output.1", "yolo_output.2:yolo_output.2" }, o.Pairs.Select(p => p.ToString()));
        Assert.Equal(ObjectnessTarget.TeacherMask, o.ObjectnessTarget);
    }

    [Fact]
    public void Check_NamesTheBadSetting()
    {
        Assert.Contains("ClsWeight is -1", Assert.Throws<DistillationException>(() => new DistillationOptions { ClsWeight = -1 }.Check()).Message);
        Assert.Contains("Weight is NaN", Assert.Throws<DistillationException>(() => new DistillationOptions { Weight = double.NaN }.Check()).Message);
        Assert.Contains("anchors is 0", Assert.Throws<DistillationException>(() => new DistillationOptions { Anchors = 0 }.Check()).Message);
        Assert.Contains("no feature pairs", Assert.Throws<DistillationException>(() => new DistillationOptions { Pairs = Array.Empty<FeaturePair>() }.Check()).Message);
        var twice = new[] { FeaturePair.Parse("a:b"), FeaturePair.Parse("a:b") };
        Assert.Contains("'a:b' is listed twice", Assert.Throws<DistillationException>(() => new DistillationOptions { Pairs = twice }.Check()).Message);
    }
}
