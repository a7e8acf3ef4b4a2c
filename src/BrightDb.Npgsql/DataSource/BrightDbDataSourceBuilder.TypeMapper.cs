using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Npgsql;
using Npgsql.Internal;
using Npgsql.TypeMapping;

namespace BrightDb.Npgsql;

/// <summary>
/// <see cref="INpgsqlTypeMapper"/>: each call is made at once on a builder of Npgsql's own, which answers it (whether
/// <c>UnmapEnum</c> removed a mapping, the current name translator), and recorded; the record is replayed, in order,
/// on the builder of every server's data source when its pool is created, before <see cref="ConfigureNpgsql"/>.
/// </summary>
public sealed partial class BrightDbDataSourceBuilder
{
    readonly NpgsqlDataSourceBuilder _typeMapper = new();
    Action<INpgsqlTypeMapper>? _typeMappings;

    INpgsqlTypeMapper Record(Action<INpgsqlTypeMapper> mapping)
    {
        mapping(_typeMapper);
        _typeMappings += mapping;
        return this;
    }

    bool RecordUnmap(Func<INpgsqlTypeMapper, bool> unmapping)
    {
        var removed = unmapping(_typeMapper);
        _typeMappings += m => unmapping(m);
        return removed;
    }

    /// <inheritdoc />
    public INpgsqlNameTranslator DefaultNameTranslator
    {
        get => _typeMapper.DefaultNameTranslator;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            Record(m => m.DefaultNameTranslator = value);
        }
    }

    /// <inheritdoc />
    public INpgsqlTypeMapper MapEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null)
        where TEnum : struct, Enum =>
        Record(m => m.MapEnum<TEnum>(pgName, nameTranslator));

    /// <inheritdoc />
    public bool UnmapEnum<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields)] TEnum>(
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null)
        where TEnum : struct, Enum =>
        RecordUnmap(m => m.UnmapEnum<TEnum>(pgName, nameTranslator));

    /// <inheritdoc />
    [RequiresDynamicCode("Calling MapEnum with a Type can require creating new generic types or methods. This may not work when AOT compiling.")]
    public INpgsqlTypeMapper MapEnum(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] Type clrType,
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        Record(m => m.MapEnum(clrType, pgName, nameTranslator));

    /// <inheritdoc />
    public bool UnmapEnum(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] Type clrType,
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        RecordUnmap(m => m.UnmapEnum(clrType, pgName, nameTranslator));

    /// <inheritdoc />
    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods.")]
    public INpgsqlTypeMapper MapComposite<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] T>(
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        Record(m => m.MapComposite<T>(pgName, nameTranslator));

    /// <inheritdoc />
    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods.")]
    public bool UnmapComposite<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] T>(
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        RecordUnmap(m => m.UnmapComposite<T>(pgName, nameTranslator));

    /// <inheritdoc />
    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods.")]
    public INpgsqlTypeMapper MapComposite(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] Type clrType,
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        Record(m => m.MapComposite(clrType, pgName, nameTranslator));

    /// <inheritdoc />
    [RequiresDynamicCode("Mapping composite types involves serializing arbitrary types which can require creating new generic types or methods.")]
    public bool UnmapComposite(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicFields)] Type clrType,
        string? pgName = null, INpgsqlNameTranslator? nameTranslator = null) =>
        RecordUnmap(m => m.UnmapComposite(clrType, pgName, nameTranslator));

    /// <inheritdoc />
    [Experimental("NPG9001")]
    public void AddTypeInfoResolverFactory(PgTypeInfoResolverFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Record(m => m.AddTypeInfoResolverFactory(factory));
    }

    /// <inheritdoc />
    [Experimental("NPG9002")]
    public void AddDbTypeResolverFactory(DbTypeResolverFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Record(m => m.AddDbTypeResolverFactory(factory));
    }

    /// <inheritdoc />
    public INpgsqlTypeMapper ConfigureJsonOptions(JsonSerializerOptions serializerOptions)
    {
        ArgumentNullException.ThrowIfNull(serializerOptions);
        return Record(m => m.ConfigureJsonOptions(serializerOptions));
    }

    /// <inheritdoc />
    [RequiresUnreferencedCode("Json serializer may perform reflection on trimmed types.")]
    [RequiresDynamicCode("Serializing arbitrary types to json can require creating new generic types or methods, which requires creating code at runtime.")]
    public INpgsqlTypeMapper EnableDynamicJson(Type[]? jsonbClrTypes = null, Type[]? jsonClrTypes = null) =>
        Record(m => m.EnableDynamicJson(jsonbClrTypes, jsonClrTypes));

    /// <inheritdoc />
    [RequiresUnreferencedCode("The mapping of PostgreSQL records as .NET tuples requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The mapping of PostgreSQL records as .NET tuples requires dynamic code usage which is incompatible with NativeAOT.")]
    public INpgsqlTypeMapper EnableRecordsAsTuples() => Record(m => m.EnableRecordsAsTuples());

    /// <inheritdoc />
    [RequiresUnreferencedCode("The use of unmapped enums, ranges or multiranges requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The use of unmapped enums, ranges or multiranges requires dynamic code usage which is incompatible with NativeAOT.")]
    public INpgsqlTypeMapper EnableUnmappedTypes() => Record(m => m.EnableUnmappedTypes());

    /// <inheritdoc />
    public void Reset() => Record(m => m.Reset());
}
